package ockam

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ockamtop/ockamtop/runtime/secure"
)

// Identities and vaults. An identity is a file of the session,
// identities/named/NAME.identity; a node uses the one --identity names,
// and "default" without it, as Ockam's nodes use the default identity.
// Every key is in the identity files: `vault create` is accepted, as
// ockamtop has one software vault.

// defaultIdentity is the identity of nodes created without --identity.
const defaultIdentity = "default"

func (h home) identityFile(name string) string {
	return filepath.Join(h.identityDir(), "named", name+".identity")
}

// loadIdentity reads identity name, creating it first if create.
func (h home) loadIdentity(name string, create bool) (*secure.Identity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if create {
		return secure.LoadOrCreateIdentity(h.identityFile(name), time.Now())
	}
	id, err := secure.LoadIdentity(h.identityFile(name))
	if err != nil {
		return nil, failf("Identity %s was not found", name)
	}
	return id, nil
}

var identityCommands = map[string]*command{
	"create": {about: "Create a new identity", pos: "[NAME]", maxPos: 1, flags: []flagSpec{{name: "vault", value: "VAULT_NAME", help: "accepted: one software vault"}}, run: identityCreate},
	"show": {about: "Show an identity", pos: "[NAME]", maxPos: 1, flags: []flagSpec{
		{name: "full", help: "print the identity's change history, not its identifier"},
		{name: "encoding", value: "ENCODING", help: "with --full: hex"},
		outputFlag,
	}, run: identityShow},
	"list":   {about: "List the identities", maxPos: 0, flags: []flagSpec{outputFlag}, run: identityList},
	"delete": {about: "Delete an identity no node uses", pos: "NAME", minPos: 1, maxPos: 1, flags: []flagSpec{{name: "yes", short: "y", help: "do not ask for confirmation"}}, run: identityDelete},
}

func identityCreate(r *run, a *args) error {
	name := a.arg(0)
	if name == "" {
		name = "identity-" + randomHex()[:8]
	}
	if _, err := os.Stat(r.home.identityFile(name)); err == nil {
		return failf("Identity %s already exists", name)
	}
	id, err := r.home.loadIdentity(name, true)
	if err != nil {
		return err
	}
	return r.answer(answer{
		plain:   okf("Identity %s created successfully as %s", id.Identifier, name),
		machine: id.Identifier.String(),
		json:    map[string]string{"identifier": id.Identifier.String()},
	})
}

func identityShow(r *run, a *args) error {
	name := a.arg(0)
	if name == "" {
		name = defaultIdentity
	}
	id, err := r.home.loadIdentity(name, name == defaultIdentity)
	if err != nil {
		return err
	}
	shown := id.Identifier.String()
	if a.flag("full") {
		shown = hex.EncodeToString(id.ChangeHistory)
	}
	return r.answer(answer{
		plain:   shown,
		machine: shown,
		json:    map[string]string{"name": name, "identifier": id.Identifier.String(), "change_history": hex.EncodeToString(id.ChangeHistory)},
	})
}

func identityList(r *run, _ *args) error {
	paths, _ := filepath.Glob(r.home.identityFile("*"))
	type entry struct {
		Name       string `json:"name"`
		Identifier string `json:"identifier"`
	}
	out := []entry{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".identity")
		if id, err := secure.LoadIdentity(p); err == nil {
			out = append(out, entry{name, id.Identifier.String()})
		}
	}
	var w strings.Builder
	if len(out) == 0 {
		w.WriteString(infof("There are no identities"))
	}
	for _, e := range out {
		fmt.Fprintf(&w, "│ Identity %s\n│ %s\n", e.Name, e.Identifier)
	}
	return r.answer(answer{plain: w.String(), json: out})
}

var vaultCommands = map[string]*command{
	"create": {about: "Create a vault (accepted: ockamtop has one software vault)", pos: "[NAME]", maxPos: 1, run: func(r *run, a *args) error {
		name := a.arg(0)
		if name == "" {
			name = "default"
		}
		return r.answer(answer{
			plain:   okf("Vault %s created: ockamtop keeps every identity's key in its one software vault, %s", name, r.home.identityDir()),
			machine: name,
			json:    map[string]string{"name": name},
		})
	}},
}

// identity is the name of node n's identity.
func (n *Node) identity() string {
	if n.Identity == "" {
		return defaultIdentity
	}
	return n.Identity
}

func identityDelete(r *run, a *args) error {
	name := a.arg(0)
	l, err := r.home.lock()
	if err != nil {
		return err
	}
	defer l.unlock()
	for _, n := range l.s.Nodes {
		if n.identity() == name {
			return failf("The identity %s is the node %s's: delete the node first", name, n.Name)
		}
	}
	if _, err := r.home.loadIdentity(name, false); err != nil {
		return err
	}
	if err := os.Remove(r.home.identityFile(name)); err != nil {
		return failf("delete identity %s: %v", name, err)
	}
	return r.answer(answer{plain: okf("The identity named %s has been deleted", name), machine: name, json: map[string]string{"name": name}})
}
