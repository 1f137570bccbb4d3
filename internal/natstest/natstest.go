// Package natstest starts NATS servers with JetStream inside a test: one
// node, or a cluster of three on loopback, stored in the test's temporary
// directory. Only tests import it, so bp's binary does not link the server.
package natstest

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Node is one embedded server, which can be stopped and started again on
// the same port and store.
type Node struct {
	t    testing.TB
	opts *server.Options
	srv  *server.Server
}

// Start starts one JetStream node on a free loopback port, storing in dir
// (t.TempDir() when empty). It stops when the test ends.
func Start(t testing.TB, dir string) *Node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	n := &Node{t: t, opts: &server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true, ServerName: "n0",
	}}
	n.start()
	t.Cleanup(n.Stop)
	return n
}

func (n *Node) start() {
	n.t.Helper()
	s, err := server.NewServer(n.opts)
	if err != nil {
		n.t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		n.t.Fatalf("nats server %s did not start", n.opts.ServerName)
	}
	n.srv = s
}

// URL is the node's client URL.
func (n *Node) URL() string {
	return "nats://" + net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.Port))
}

// Server is the running server (nil while stopped).
func (n *Node) Server() *server.Server { return n.srv }

// Dir is where the node stores its streams.
func (n *Node) Dir() string { return n.opts.StoreDir }

// Stop shuts the node down; what it stored stays.
func (n *Node) Stop() {
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Restart starts a stopped node again, on its port and store.
func (n *Node) Restart() {
	n.t.Helper()
	if n.srv == nil {
		n.start()
	}
}

// Cluster is three nodes routed to each other on loopback.
type Cluster struct{ Nodes []*Node }

// StartCluster starts a 3-node JetStream cluster and waits for its meta
// leader, before which no stream can be created.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	const size = 3
	clusterPorts := make([]int, size)
	for i := range clusterPorts {
		clusterPorts[i] = freePort(t)
	}
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	c := &Cluster{}
	for i := range size {
		opts := &server.Options{
			Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(),
			NoLog: true, NoSigs: true, ServerName: fmt.Sprintf("n%d", i),
			Cluster: server.ClusterOpts{Name: "bp-test", Host: "127.0.0.1", Port: clusterPorts[i]},
		}
		opts.Routes = server.RoutesFromStr(joinComma(routes))
		c.Nodes = append(c.Nodes, &Node{t: t, opts: opts})
	}
	for _, n := range c.Nodes {
		n := n
		s, err := server.NewServer(n.opts)
		if err != nil {
			t.Fatalf("nats server: %v", err)
		}
		go s.Start()
		n.srv = s
		t.Cleanup(n.Stop)
	}
	for _, n := range c.Nodes {
		if !n.srv.ReadyForConnections(30 * time.Second) {
			t.Fatalf("nats server %s did not start", n.opts.ServerName)
		}
	}
	c.WaitForMetaLeader(t)
	return c
}

// WaitForMetaLeader waits until the cluster has elected its JetStream
// meta leader.
func (c *Cluster) WaitForMetaLeader(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, n := range c.Nodes {
			if n.srv != nil && n.srv.JetStreamIsLeader() {
				return
			}
		}
	}
	t.Fatal("the nats cluster elected no meta leader in 60s")
}

// URL lists every node's client URL, comma-separated, as nats.Connect
// takes them.
func (c *Cluster) URL() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL())
	}
	return joinComma(urls)
}

// StreamLeader is the node that leads a stream of the global account.
func (c *Cluster) StreamLeader(stream string) *Node {
	for _, n := range c.Nodes {
		if n.srv != nil && n.srv.JetStreamIsStreamLeader("$G", stream) {
			return n
		}
	}
	return nil
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NodeConfig is one node run in a process of its own (a test binary
// re-executed), so that the test's own process stays small.
type NodeConfig struct {
	Name        string   `json:"name"`
	Port        int      `json:"port"`
	ClusterPort int      `json:"cluster_port,omitempty"` // 0: a single node
	Routes      []string `json:"routes,omitempty"`
	Dir         string   `json:"dir"`
}

// RunNode starts a node in this process and waits until it accepts
// connections.
func RunNode(c NodeConfig) (*server.Server, error) {
	opts := &server.Options{
		Host: "127.0.0.1", Port: c.Port, JetStream: true, StoreDir: c.Dir,
		NoLog: true, NoSigs: true, ServerName: c.Name,
	}
	if c.ClusterPort != 0 {
		opts.Cluster = server.ClusterOpts{Name: "bp-test", Host: "127.0.0.1", Port: c.ClusterPort}
		opts.Routes = server.RoutesFromStr(joinComma(c.Routes))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(60 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats node %s did not start", c.Name)
	}
	return s, nil
}

// FreePort asks the kernel for a free loopback port.
func FreePort(t testing.TB) int { return freePort(t) }
