// Command web is the engine test's target and probe, built static into the
// test image (which has no shell): it serves a page, or fetches one, or
// dials an address and says whether it connected.
//
//	web -serve 127.0.0.1:9000
//	web -get http://127.0.0.1:6000/
//	web -dial n3:7000
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	serve := flag.String("serve", "", "serve the page on ADDR")
	get := flag.String("get", "", "fetch URL and print its body")
	dial := flag.String("dial", "", "dial ADDR and say whether it connected")
	flag.Parse()
	switch {
	case *serve != "":
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello through the portal") })
		fmt.Fprintln(os.Stderr, http.ListenAndServe(*serve, nil))
		os.Exit(1)
	case *get != "":
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(*get)
		if err != nil {
			fmt.Println("get:", err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		io.Copy(os.Stdout, resp.Body)
	case *dial != "":
		c, err := net.DialTimeout("tcp", *dial, 3*time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		c.Close()
		fmt.Println("connected")
	default:
		flag.Usage()
		os.Exit(2)
	}
}
