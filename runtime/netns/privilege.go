//go:build linux

package netns

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// CheckPrivilege says whether this process may make network namespaces
// and the interfaces in them: it needs CAP_SYS_ADMIN (to make and enter a
// namespace) and CAP_NET_ADMIN (to make bridges and veth pairs), as root
// has. The error names what is missing.
func CheckPrivilege() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read this process's capabilities: %w", err)
	}
	var missing []string
	for _, c := range []struct {
		bit  uint
		name string
	}{{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}, {unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"}} {
		if data[c.bit/32].Effective&(1<<(c.bit%32)) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("this process lacks %s", strings.Join(missing, " and "))
	}
	return nil
}
