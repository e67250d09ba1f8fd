package ockam

import (
	"os"
	"slices"
	"strings"
)

// groups are the commands of the local subset, by their first word.
var groups = map[string]map[string]*command{
	"node":                    nodeCommands,
	"tcp-listener":            listenerCommands,
	"tcp-connection":          connectionCommands,
	"tcp-outlet":              outletCommands,
	"tcp-inlet":               inletCommands,
	"relay":                   relayCommands,
	"service":                 serviceCommands,
	"message":                 messageCommands,
	"identity":                identityCommands,
	"vault":                   vaultCommands,
	"secure-channel":          channelCommands,
	"secure-channel-listener": scListenerCommands,
}

// groupAbout is each group's line in `ockam --help`.
var groupAbout = map[string]string{
	"node":                    "Manage nodes: each runs in the background, as a process of its own",
	"tcp-listener":            "Manage TCP Listeners: a node's own, and more",
	"tcp-connection":          "Name a node's TCP connection to another node, for routes",
	"tcp-outlet":              "Manage TCP Outlets",
	"tcp-inlet":               "Manage TCP Inlets",
	"relay":                   "Manage Relays",
	"service":                 "Start services: hop, echo, uppercase",
	"message":                 "Send messages",
	"identity":                "Manage identities",
	"vault":                   "Vaults (accepted: one software vault)",
	"secure-channel":          "Create secure channels to a node's listener",
	"secure-channel-listener": "Manage secure channel listeners",
	"run":                     "Create the nodes, relays and portals of a configuration file",
	"reset":                   "Delete every node and the whole session, identities included",
}

func groupNames() []string { return append(sortedKeys(groups), "reset", "run") }

// unsupported are Ockam's commands outside the local subset, with why.
var unsupported = map[string]string{
	"enroll":          hosted,
	"project":         hosted,
	"space":           hosted,
	"project-member":  hosted,
	"project-admin":   hosted,
	"space-admin":     hosted,
	"ticket":          hosted,
	"lease":           hosted,
	"share":           hosted,
	"subscription":    hosted,
	"authority":       hosted,
	"credential":      "needs credentials from an authority (Ockam's hosted service), which ockamtop does not run",
	"policy":          notLocal,
	"kafka-inlet":     notLocal,
	"kafka-outlet":    notLocal,
	"kafka-consumer":  notLocal,
	"kafka-producer":  notLocal,
	"influxdb-inlet":  notLocal,
	"influxdb-outlet": notLocal,
	"rendezvous":      notLocal,
	"sidecar":         notLocal,
	"admin":           hosted,
	"worker":          notLocal,
	"flow-control":    notLocal,
	"status":          notLocal,
	"completion":      notLocal,
	"environment":     notLocal,
	"markdown":        notLocal,
	"manpages":        notLocal,
}

const (
	hosted   = "needs Ockam's hosted service (Orchestrator), which ockamtop does not run"
	notLocal = "is not part of the local subset of Ockam's command line that ockamtop runs"
)

func unsupportedNames() []string {
	names := sortedKeys(unsupported)
	return slices.DeleteFunc(names, func(s string) bool { return groups[s] != nil })
}

// SessionHCL is the session in OCKAM_HOME (environ's, or ~/.ockam) as one
// topology file, formatted as `ockamtop fmt` formats: what `ockamtop
// import ockam` prints, which `ockamtop apply` runs.
func SessionHCL(environ []string) ([]byte, error) {
	r := &run{Env: Env{Environ: environ}}
	h, err := r.findHome()
	if err != nil {
		return nil, err
	}
	s, err := h.read()
	if err != nil {
		return nil, err
	}
	return s.HCL(h.identityDir()), nil
}

// ConfigHCL is an Ockam configuration file (what `ockam run FILE` takes)
// as one topology file: the session its commands would build, built in a
// scratch OCKAM_HOME without starting a node. The nodes keep the
// identities ockamtop keeps for them (no identity attribute).
func ConfigHCL(environ []string, path string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "ockam-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out strings.Builder
	r := &run{Env: Env{Environ: append(slices.Clone(environ), "OCKAM_HOME="+dir), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out}, dryRun: true}
	r.self = r
	h, err := r.findHome()
	if err != nil {
		return nil, err
	}
	r.home = h
	if err := r.runConfig(path, strings.HasSuffix(path, ".yaml") && isNodeConfig(path)); err != nil {
		return nil, err
	}
	s, err := h.read()
	if err != nil {
		return nil, err
	}
	return s.HCL(""), nil
}

var resetCommand = &command{
	about: "Delete every node and the whole session, identities included", maxPos: 0,
	flags: []flagSpec{{name: "yes", short: "y", help: "do not ask for confirmation"}, {name: "all", help: "accepted"}},
	run: func(r *run, a *args) error {
		if err := r.self.dispatch([]string{"node", "delete", "--all", "--yes"}); err != nil {
			return err
		}
		if err := os.RemoveAll(r.home.dir); err != nil {
			return failf("reset: %v", err)
		}
		return r.answer(answer{plain: okf("Local Ockam configuration deleted")})
	},
}
