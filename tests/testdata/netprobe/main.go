// Command netprobe is a static helper the network tests run inside a
// sandbox, where busybox's nc has no UDP:
//
//	netprobe udp-echo PORT   print "got: DATA" and "from: ADDR" per
//	                         datagram, and send it back
//	netprobe tcp-sink PORT   accept connections, read them to the end, and
//	                         answer each with the byte count read
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: netprobe udp-echo|tcp-sink PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "udp-echo":
		udpEcho(port)
	case "tcp-sink":
		tcpSink(port)
	}
	fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
	os.Exit(2)
}

func udpEcho(port int) {
	c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening")
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("got: %s\nfrom: %s\n", buf[:n], from)
		c.WriteTo(buf[:n], from)
	}
}

func tcpSink(port int) {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			n, _ := io.Copy(io.Discard, c)
			fmt.Fprintf(c, "%d\n", n)
		}()
	}
}
