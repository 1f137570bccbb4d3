package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bprun/bp/internal/natstest"
)

// natsNodeEnv asks the test binary to run one NATS node instead of the
// tests: the nodes run in processes of their own, so that this test
// process stays small (the peak-memory checks of bp validate count the
// memory a child shares with it) and a node can be stopped as a machine
// would be.
const natsNodeEnv = "BP_TEST_NATS_NODE"

// runNATSNodeIfAsked runs the node and exits when its standard input
// closes (the test ended it, or died).
func runNATSNodeIfAsked() {
	spec := os.Getenv(natsNodeEnv)
	if spec == "" {
		return
	}
	var cfg natstest.NodeConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		os.Exit(2)
	}
	s, err := natstest.RunNode(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		os.Exit(1)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.Shutdown()
	s.WaitForShutdown()
	os.Exit(0)
}

// natsNode is a NATS node in a process of its own.
type natsNode struct {
	t     *testing.T
	cfg   natstest.NodeConfig
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

func startNATSNode(t *testing.T, cfg natstest.NodeConfig) *natsNode {
	t.Helper()
	n := &natsNode{t: t, cfg: cfg}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) start() {
	n.t.Helper()
	spec, _ := json.Marshal(n.cfg)
	n.cmd = exec.Command(os.Args[0], "-test.run=^$")
	n.cmd.Env = append(os.Environ(), natsNodeEnv+"="+string(spec))
	n.cmd.Stderr = os.Stderr
	stdin, err := n.cmd.StdinPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	n.stdin = stdin
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.cfg.Port)); err == nil {
			c.Close()
			return
		}
		select {
		case <-n.done:
			n.t.Fatalf("nats node %s exited", n.cfg.Name)
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nats node %s did not listen in 60s", n.cfg.Name)
		}
	}
}

// stop shuts the node down cleanly, as a machine taken out of service.
func (n *natsNode) stop() {
	if n.cmd == nil {
		return
	}
	_ = n.stdin.Close()
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}

func (n *natsNode) restart() {
	n.t.Helper()
	if n.cmd == nil {
		n.start()
	}
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.cfg.Port) }

// startNATS starts one node.
func startNATS(t *testing.T) *natsNode {
	return startNATSNode(t, natstest.NodeConfig{Name: "n0", Port: natstest.FreePort(t), Dir: t.TempDir()})
}

// natsCluster is three nodes routed to each other.
type natsCluster struct{ nodes []*natsNode }

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	cports := []int{natstest.FreePort(t), natstest.FreePort(t), natstest.FreePort(t)}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	c := &natsCluster{}
	for i, cp := range cports {
		c.nodes = append(c.nodes, startNATSNode(t, natstest.NodeConfig{
			Name: fmt.Sprintf("n%d", i), Port: natstest.FreePort(t), ClusterPort: cp, Routes: routes, Dir: t.TempDir(),
		}))
	}
	// Streams can be created once the meta leader is elected.
	nc := c.connect(t)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nats cluster elected no meta leader: %v", err)
		}
	}
}

func (c *natsCluster) url() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, n.url())
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.url(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// streamLeader is the node that leads a stream.
func (c *natsCluster) streamLeader(t *testing.T, stream string) *natsNode {
	t.Helper()
	nc := c.connect(t)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	for _, n := range c.nodes {
		if n.cfg.Name == info.Cluster.Leader {
			return n
		}
	}
	return nil
}

// dirs are the nodes' stores.
func (c *natsCluster) dirs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, filepath.Clean(n.cfg.Dir))
	}
	return out
}
