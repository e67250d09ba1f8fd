package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// ontty runs a program with its standard output on a terminal, as a
// person at a terminal sees it (Ockam's commands print their plain form
// there, their machine form to a pipe), and copies what the terminal
// showed to its own standard output: `exec ontty ockam node create n1` in
// a script. Standard input and error are the program's as they are; the
// exit code is the program's. It is a program of the test binary
// (testscript.Main), so that the program has the script's environment.
func ontty(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: ontty PROGRAM [ARGS...]")
		return 2
	}
	master, slave, err := openPTY()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ontty: %v\n", err)
		return 2
	}
	defer master.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, slave, os.Stderr
	shown := make(chan struct{})
	go func() {
		defer close(shown)
		_, _ = io.Copy(os.Stdout, master) // EIO once no one holds the terminal
	}()
	err = cmd.Run()
	slave.Close()
	<-shown
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ontty: %v\n", err)
		return 2
	}
	return 0
}
