package topology

import (
	"fmt"
	"testing"
)

// Sockets clash by the addresses they resolve to, not by their text.
func TestPortClash(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		clash bool
	}{
		{"127.0.0.1:17300", "127.0.0.1:17300", true},
		{"localhost:17300", "127.0.0.1:17300", true},
		{"localhost:17300", "[::1]:17300", true},
		{"LOCALHOST:17300", "127.0.0.1:17300", true},
		{"0.0.0.0:17300", "127.0.0.1:17300", true},
		{"[::]:17300", "10.1.2.3:17300", true},
		{"[::ffff:127.0.0.1]:17300", "127.0.0.1:17300", true},
		{"127.0.0.1:17300", "127.0.0.2:17300", false},
		{"localhost:17300", "127.0.0.1:17301", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
	} {
		src := fmt.Sprintf(`
node "a" {
  tcp_listener = %q
}
node "b" {
  tcp_listener = %q
}
`, tc.a, tc.b)
		_, diags := load(t, src)
		if got := diags[6] == "Port clash"; got != tc.clash {
			t.Errorf("%s and %s: clash %v, want %v (%v)", tc.a, tc.b, got, tc.clash, diags)
		}
	}
}
