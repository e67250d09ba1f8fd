//go:build linux

package netns

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Held lists what still holds any of the network namespaces given by
// inode: a process or thread in one, a file descriptor open on one, a
// mount of one. Each is described in a line ("pid 123 fd 7 net:[4026532]").
// Nothing listed means the kernel has let them go. It is how the tests
// prove that an apply leaves nothing behind, kill -9 included.
func Held(inodes []uint64) []string {
	if len(inodes) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, i := range inodes {
		want[fmt.Sprintf("net:[%d]", i)] = true
	}
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid := filepath.Base(p)
		links, _ := filepath.Glob(filepath.Join(p, "task", "*", "ns", "net"))
		fds, _ := filepath.Glob(filepath.Join(p, "fd", "*"))
		for _, l := range slices.Concat(links, fds) {
			if target, err := os.Readlink(l); err == nil && want[target] {
				out = append(out, fmt.Sprintf("pid %s %s %s", pid, strings.TrimPrefix(l, p+"/"), target))
			}
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return append(out, fmt.Sprintf("mounts unknown: %v", err))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; a namespace's bind mount
		// has the namespace as its root.
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && want[fields[3]] {
			out = append(out, fmt.Sprintf("mount %s %s", fields[4], fields[3]))
		}
	}
	return out
}
