package bptest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bprun/bp/bptest"
)

// RunCases runs a blueprint's cases offline: the case's HTTP exchanges
// stand for the network, its fake vault for the real one, and the run's
// summary is compared with the case's golden file (written by Update).
func ExampleRunCases() {
	dir, _ := os.MkdirTemp("", "bptest-example")
	defer os.RemoveAll(dir)
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(text), 0o644)
	}
	write("weather.bp.yaml", `
vault: [WEATHER_KEY]
blocks:
  start: {type: apitrigger, outs: {trigger: call}}
  call:
    type: httprequest
    fields:
      url: "http://weather.example/now?city=@{payload.city}"
      headers: {Authorization: "Bearer @{vault.WEATHER_KEY}"}
    outs: {success: done}
  done: {type: returnvalue, fields: {value: "@{result.body.temp}"}}
`)
	write("testdata/weather/case.yaml", `
payload: {city: Oslo}
vault: {WEATHER_KEY: fake-key-1234}
http:
  - request: {method: GET, url: "http://weather.example/now?city=Oslo",
              headers: {Authorization: "Bearer @{vault.WEATHER_KEY}"}}
    response: {status: 200, body: {temp: 4.5}}
`)
	// The first run writes the golden file; the next ones compare with it.
	for _, update := range []bool{true, false} {
		results, err := bptest.RunCases(context.Background(), dir, bptest.Options{Update: update})
		if err != nil {
			panic(err)
		}
		for _, r := range results {
			fmt.Println(r.Name, r.Passed, r.Updated, r.Err)
		}
	}
	// Output:
	// weather true true <nil>
	// weather true false <nil>
}
