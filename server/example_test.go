package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/server"
)

// A program serves bp's API under a path of its own mux, beside its own
// handlers.
func ExampleServer() {
	bp, err := blueprints.ParseNative("hello.bp.yaml", []byte(`
blocks:
  start: {type: apitrigger, outs: {trigger: done}}
  done: {type: returnvalue, fields: {value: "hello, @{payload.name}"}}
`))
	if err != nil {
		panic(err)
	}
	reg := blocks.NewRegistry()
	blocks.Core(reg)
	defer reg.Close()
	r := runner.New(runner.Options{Library: runner.NewLibrary(blueprints.NewSet([]*engine.Blueprint{bp}, nil), reg)})
	api := server.New(server.Options{Runner: r})
	defer api.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/bp/", http.StripPrefix("/bp", api))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the program's own page") })
	ts := httptest.NewServer(mux) // on loopback: without a token the API answers only there
	defer ts.Close()

	// ?wait=1 streams the run's events, then its result.
	resp, err := http.Post(ts.URL+"/bp/v1/blueprints/hello/runs?wait=1", "application/json", strings.NewReader(`{"name": "Ada"}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "event: result" && sc.Scan() {
			fmt.Println(resp.StatusCode, strings.Contains(sc.Text(), `"return":"hello, Ada"`))
		}
	}
	// Output:
	// 200 true
}
