package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

var downCommand = &command{
	name:    "down",
	args:    "",
	short:   "Stop running topologies",
	summary: "Stop the running topologies cleanly (with --node or --file, only the apply they name).",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		node := fs.String("node", "", "stop only the apply that runs `NODE`")
		file := fs.String("file", "", "stop only the applies of `FILE` (its path or its name)")
		if _, err := parseArgs(c, fs, args, 0, 0); err != nil {
			return err
		}
		a, err := c.findApplies(context.Background())
		if err != nil {
			return err
		}
		if len(a.running) == 0 && len(a.silent) == 0 {
			fmt.Fprintf(c.stdout, "nothing to stop: no running topology (looked in %s)\n", a.dir)
			return nil
		}
		sel := a.matching(*node, *file)
		filtered := *node != "" || *file != ""
		switch {
		case filtered && len(sel) == 0:
			return c.errNoMatch("down", describe(*node, *file), a)
		case *node != "" && *file == "" && len(sel) > 1:
			return c.errAmbiguous("down", "node "+*node+" runs", sel)
		}
		failed := false
		var stopping []runningApply
		for _, r := range sel {
			var out map[string]bool
			ctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
			err := r.client.call(ctx, "POST", "/down", nil, &out)
			cancel()
			if err != nil {
				fmt.Fprintf(c.stderr, "ockamtop down: %s: %v\n", r, err)
				failed = true
				continue
			}
			fmt.Fprintf(c.stdout, "✔ stopping %s\n", r)
			stopping = append(stopping, r)
		}
		// Down returns once they are down: an apply of the same file
		// right after finds nothing of them (a socket that no longer
		// answers).
		if !c.waitExited(stopping) {
			failed = true
		}
		if !filtered {
			// An apply that does not answer cannot be asked: signal it.
			for _, s := range a.silent {
				if err := terminate(s.pid); err != nil {
					fmt.Fprintf(c.stderr, "ockamtop down: %s; cannot signal it: %v\n", s, err)
					failed = true
					continue
				}
				fmt.Fprintf(c.stdout, "✔ stopping pid %d with SIGTERM: it does not answer on %s\n", s.pid, s.socket)
			}
		} else {
			c.reportSilent("down", a)
		}
		if failed {
			return errInvalid
		}
		return nil
	},
}

// stopWait bounds how long down waits for an apply it stopped to exit:
// its processes have ExecStopWait (5 s) after SIGTERM, its streams a
// moment to say Disconnect.
const stopWait = 30 * time.Second

// waitExited waits until every apply of applies has exited, and says so of
// one that has not within stopWait.
func (c *cli) waitExited(applies []runningApply) bool {
	deadline := time.Now().Add(stopWait)
	ok := true
	for _, r := range applies {
		for alive(r.status.PID) {
			if time.Now().After(deadline) {
				fmt.Fprintf(c.stderr, "ockamtop down: %s has not exited %s after it was told to stop\n", r, stopWait)
				ok = false
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return ok
}
