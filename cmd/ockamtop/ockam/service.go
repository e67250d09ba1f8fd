package ockam

import (
	"fmt"
	"slices"
	"strings"
)

// service start and list: the services of a node (service blocks).

// serviceTypes are what `service start` starts.
var serviceTypes = []string{"echo", "hop", "uppercase"}

var serviceCommands = map[string]*command{
	"start": {
		about: "Start a service: hop, echo or uppercase", pos: "TYPE", minPos: 1, maxPos: 1,
		flags: []flagSpec{
			{name: "at", value: "NODE", help: "the node (default: the default node)"},
			{name: "addr", value: "ADDR", help: "the service's address (default: its type)"},
		},
		run: serviceStart,
	},
	"list": {about: "List the services of a node", maxPos: 0, flags: []flagSpec{{name: "at", value: "NODE", help: "the node"}, outputFlag}, run: serviceList},
}

func serviceStart(r *run, a *args) error {
	typ := a.arg(0)
	if !slices.Contains(serviceTypes, typ) {
		return failf("'ockam service start %s' is not supported by ockamtop's ockam: it starts %s", typ, strings.Join(serviceTypes, ", "))
	}
	addr := serviceName(a.str("addr"))
	if addr == "" {
		addr = typ
	}
	var node string
	err := r.change(a.str("at"), func(s *Session, n *Node) error {
		node = n.Name
		if addr == typ && (addr == "echo" || addr == "uppercase") || slices.Contains(n.Services, Service{Name: addr, Type: typ}) {
			return nil // it runs already: every node runs echo, uppercase and hop
		}
		if addr == "echo" || addr == "uppercase" || slices.ContainsFunc(n.Services, func(sv Service) bool { return sv.Name == addr }) {
			return failf("A service at /service/%s already runs on the node %s", addr, n.Name)
		}
		n.Services = append(n.Services, Service{Name: addr, Type: typ})
		return nil
	})
	if err != nil {
		return err
	}
	return r.answer(answer{plain: okf("Started a %s service at /service/%s on the node %s", typ, addr, node)})
}

func serviceList(r *run, a *args) error {
	s, n, err := r.readNode(a.str("at"))
	if err != nil {
		return err
	}
	info := r.nodeInfo(s, n, true)
	var w strings.Builder
	for _, sv := range info.Services {
		fmt.Fprintf(&w, "│ /service/%s\n", sv)
	}
	return r.answer(answer{plain: w.String(), json: nonNil(info.Services)})
}
