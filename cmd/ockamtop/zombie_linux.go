package main

import (
	"bytes"
	"os"
	"strconv"
)

// zombie reports whether the process has exited and waits for its parent
// to reap it: its state in /proc/PID/stat, after the command name in
// parentheses, is Z.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}
