// Package bptest runs golden-file tests of blueprints, offline: a fake
// vault, recorded HTTP exchanges, and a golden run summary to compare with.
// `bp test` and a Go test with one call, bptest.Run(t, "."), run the same
// cases.
//
// # Layout
//
// A test case sits beside its blueprint. For NAME.bp.yaml (or .bp.yml,
// .bp.json):
//
//	NAME.bp.yaml
//	testdata/NAME/case.yaml      the case "NAME"
//	testdata/NAME/golden.json
//	testdata/NAME/CASE/case.yaml the case "NAME/CASE" (any number of these)
//	testdata/NAME/CASE/golden.json
//
// Both forms may be used together. A directory is searched recursively as
// blueprints.Load searches it (hidden directories, testdata and
// node_modules are not entered); the case name is the blueprint file's
// path from that directory, without its suffix, then "/CASE" for the
// cases of subdirectories. Only native blueprint files have cases.
//
// The blueprints a case can call with runblueprint are those Load finds in
// the directory given (for a file, the directory that holds it).
//
// # case.yaml
//
//	blueprint: weather          # key, when the file holds several (default: its only one)
//	trigger: start              # optional: the trigger block to start at
//	payload: {city: Paris}      # any YAML value; numbers become JSON numbers
//	context: {...}              # optional: @{context}
//	timeout: 30s                # bound on the run (default 1m)
//	env: {REGION: eu}           # the environment blueprints see through env: (nothing else)
//	state: {...}            # the run's initial state
//	vault:                      # the fake vault: NAME → value (strings)
//	  WEATHER_KEY: fake-key-123
//	http:                       # recorded exchanges, served instead of the network
//	  - request:
//	      method: GET           # default GET; "*" for any
//	      url: http://weather.test/weather?city=Paris   # exact (query order does not matter)
//	      # urlPattern: '^http://weather\.test/.*'      # or a Go regexp, matched against the whole URL
//	      headers: {Authorization: "Bearer @{vault.WEATHER_KEY}"} # optional: these must be present, with these values
//	      body: ...             # optional: a string matches the body exactly; any other
//	                            # YAML value matches a JSON body with the same value
//	    response:
//	      status: 200           # default 200
//	      headers: {X-Rate: "10"}
//	      body: {temp_c: 21.5}  # a string is sent as is; any other value as JSON
//	                            # (with Content-Type: application/json unless set)
//	      # error: connection refused   # instead: the request fails (connectionError)
//	    repeat: true            # optional: may be used any number of times
//
// # Matching HTTP requests
//
// Each request the run sends takes the first exchange, in file order, that
// matches it and is not used yet (an exchange with repeat: true is never
// used up). A request that matches no exchange fails the test, naming its
// method and URL and the exchange it came closest to, with how they
// differ: the method, a query parameter, a header, the fields of a JSON
// body by path (user.name), or the text around a text body's first
// difference (all scrubbed). So does an exchange that no request used
// (unless it has repeat: true). Nothing reaches the network.
//
// # Templates in exchanges
//
// @{vault.NAME} in a request's url, headers or body, and in a response's
// headers or body, stands for the case's fake value of NAME: secrets live
// in one place, the vault: section. The text inside @{...} is an expr-lang
// expression over vault with the encoders blueprints have (toBase64,
// toJSON, urlQuery, urlPath), for a value sent encoded:
//
//	X-Login: "Basic @{toBase64(\"alice:\" + vault.PASSWORD)}"
//	body: "user=alice&pass=@{urlQuery(vault.PASSWORD)}"
//
// In a url each value is escaped for where it stands (path or query); in a
// urlPattern it is matched literally; elsewhere it is inserted as it is.
// A name the case's vault lacks is an error of the case. \@{ is a literal
// @{.
//
// # Recording
//
// With Options.Record (bp test -record), each case runs once against the
// live endpoints, through the real HTTP block (the same client and limits
// as bp run), and what went over the wire replaces its case.yaml's http:
// section (the rest of the file, comments included, stays). The live run
// sends Options.LiveSecrets' values for the case's vault names (the real
// vault), else the case's fake ones; either way each is written back as a
// template, never as a value: raw as @{vault.NAME}, URL-escaped as
// @{urlQuery(vault.NAME)}, base64 as @{toBase64(vault.NAME)}, inside a
// base64 token (a Basic header) as @{toBase64("alice:" + vault.NAME)},
// and value by value in a JSON body. A value a block masked (a login's
// token) is written as a placeholder, bptest-masked-N, wherever it went;
// replayed, the block masks the placeholder as it masked the token. A
// literal @{ is written \@{. Volatile response headers (Date, request ids,
// Set-Cookie) are left out; JSON bodies (by Content-Type) are written as
// JSON, others as text. A recording that would still hold a secret or a
// masked value, in any form the scrubber knows, is refused and nothing is
// written. The case is then replayed offline and its golden file written
// from the replay, so that a recorded case passes as it is written.
//
// # golden.json
//
// The run summary is built from the run's events, as the runner's
// scrubbing sink let them out:
//
//	{
//	  "blocks": {                  // top-level blocks that ran or were skipped, by id
//	    "fetch": {"type": "httprequest", "status": "succeeded", "outcome": "success",
//	              "result": {...}, "message": "...", "output": {"stdout": ["line", ...], "log": [...]},
//	              "warnings": ["..."]},
//	    ...
//	  },
//	  "scopes": {                  // nested runs: loop iterations, runblueprint calls
//	    "each[0]": {"blockid": {...}},
//	    "call:other": {...}
//	  },
//	  "status": "returned",
//	  "return": ...,
//	  "error": "..."               // a failed run's error
//	}
//
// Keys are sorted (blocks thus in id order), indentation is two spaces,
// and the file ends with a newline. Output is, per stream, a list of
// lines: stdout and stderr as the block wrote them, cut at each newline
// (a final line without one reads the same), and each log message (log,
// log:error) a line of its own. The order of lines between a Python
// block's stdout and stderr is not stable, the order within each stream
// is. No
// times, durations or run ids appear; the jittered wait in an HTTP
// block's retry log line shows as "retrying in (wait)". A result is
// recorded as it was when its block finished. Nested runs are keyed by
// their engine scope ("each[2]", "each[2]/call:other"), in sorted order.
//
// A case's run is as deterministic as its blueprint: parallel branches
// that race to a returnvalue, or parallel loop iterations that send the
// same request to exchanges with different answers, give golden files
// that change from run to run.
//
// # Secrets
//
// The run sees the case's vault as the real vault: a blueprint that lists
// its secrets (vault: [...]) sees only those, and only those are scrubbed,
// exactly as in production. A golden file that holds any of the case's
// vault values, raw or in any encoding the scrubber knows (base64, JSON,
// URL...), fails the test (values shorter than scrub.MinSecretLen bytes are
// never masked, so fake values should be long and distinctive). With
// Update the summary is checked before it is written, and one that holds a
// vault value is not written; a golden file that held one is rewritten,
// and the case fails all the same, naming the secret: version control may
// keep the old file. Every text a CaseResult holds (diffs, errors) is
// scrubbed of the case's vault values.
package bptest
