// Command topogen writes a large topology for the scale benchmarks: hubs
// that listen, nodes that register a relay at a hub, and nodes that only
// exist, with one check through a relay.
//
//	go run ./cmd/topogen -nodes 10000 -relays 5000 -hubs 20 > big.hcl
//	/usr/bin/time -v ockamtop check big.hcl
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	nodes := flag.Int("nodes", 10000, "nodes in all, hubs included")
	relays := flag.Int("relays", 5000, "nodes that register a relay at a hub")
	hubs := flag.Int("hubs", 20, "nodes that listen, each a relay node")
	flag.Parse()
	if err := write(os.Stdout, *nodes, *relays, *hubs); err != nil {
		fmt.Fprintln(os.Stderr, "topogen:", err)
		os.Exit(2)
	}
}

func write(out io.Writer, nodes, relays, hubs int) error {
	switch {
	case hubs < 1 || nodes < hubs+1:
		return fmt.Errorf("want at least one hub and one more node (got -nodes %d -hubs %d)", nodes, hubs)
	case relays < 0 || relays > nodes-hubs:
		return fmt.Errorf("-relays %d: from 0 to the %d nodes that are not hubs", relays, nodes-hubs)
	}
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "# %d nodes: %d hubs that listen, %d nodes with a relay at a hub, %d more.\n", nodes, hubs, relays, nodes-hubs-relays)
	fmt.Fprintf(w, "# Written by: go run ./cmd/topogen -nodes %d -relays %d -hubs %d\n\n", nodes, relays, hubs)
	for h := 1; h <= hubs; h++ {
		fmt.Fprintf(w, "node \"h%d\" {\n  tcp_listener = \"127.0.0.1:0\"\n}\n\n", h)
	}
	for i := 1; i <= nodes-hubs; i++ {
		if i <= relays {
			fmt.Fprintf(w, "node \"n%d\" {\n  relay \"n%d\" {\n    at = node.h%d\n  }\n}\n\n", i, i, (i-1)%hubs+1)
		} else {
			fmt.Fprintf(w, "node \"n%d\" {}\n\n", i)
		}
	}
	if relays > 0 {
		fmt.Fprintf(w, "check \"through a relay\" {\n  from   = node.n%d\n  to     = \"/node/h1/service/forward_to_n1/service/uppercase\"\n  send   = \"hello\"\n  expect = \"HELLO\"\n}\n", nodes-hubs)
	}
	return w.Flush()
}
