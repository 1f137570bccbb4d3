package bptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bprun/bp/blocks"
	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
)

// Options configure a run of test cases.
type Options struct {
	// Update rewrites each golden file with the run's summary, unless the
	// case has a problem (an unmatched HTTP request, a vault value in
	// the summary): then nothing is written and the case fails.
	Update bool
	// Filter, when set, selects the cases whose name it matches.
	Filter *regexp.Regexp
	// Python is the interpreter for code blocks; empty means python3.
	Python string
	// OnStart, when set, is called as each case starts.
	OnStart func(name string)
	// Sink, when set, gives for each case the sink that receives its run's
	// events as they happen, scrubbed (bp test -v shows them).
	Sink func(name string) engine.Sink
	// OnResult, when set, is called as each case ends (for progress).
	OnResult func(CaseResult)
	// Record runs each case once against the live endpoints and rewrites
	// its case.yaml's http: section with what went over the wire (see
	// Recording), then replays it and writes its golden file. RunCases
	// only.
	Record bool
	// LiveSecrets are the values a recording sends for the case's vault
	// names (the real vault); nil, or a name it lacks, sends the case's
	// fake value. They are written back as @{vault.NAME}, never as values.
	LiveSecrets engine.SecretSource
	// Types are the caller's block types (custom ones, or replacements
	// for bp's), registered for every case after bp's own. The caller
	// owns them and closes them. A type that does its own HTTP is not
	// served by the case's recorded exchanges.
	Types []engine.BlockType
}

// CaseResult is how one case went. Every text in it is scrubbed of the
// case's vault values.
type CaseResult struct {
	// Name is the case's name: the blueprint file's path from the
	// directory searched, without its suffix, then "/CASE" for cases in
	// subdirectories of testdata/NAME.
	Name string
	// Dir holds the case's case.yaml and golden.json.
	Dir string
	// Passed: the run matched golden.json and had no problem (with
	// Update: the golden file is written, or was already right, and the
	// file it replaced held no vault value).
	Passed bool
	// Updated: golden.json was (re)written.
	Updated bool
	// Recorded: case.yaml's exchanges were recorded (Options.Record).
	Recorded bool
	// Diff is a unified diff from golden.json to the run's summary; ""
	// when they are equal.
	Diff string
	// Err is what else went wrong: case.yaml, a blueprint that would not
	// start, unmatched or unused HTTP exchanges, a vault value in a
	// golden file.
	Err      error
	Duration time.Duration
}

// RunCases runs every case at path (a blueprint file, or a directory
// searched recursively), in name order. The error is for a path that
// cannot be read; failing cases are in the results.
func RunCases(ctx context.Context, path string, opts Options) ([]CaseResult, error) {
	cases, err := findCases(path)
	if err != nil {
		return nil, err
	}
	if opts.Record {
		opts.Update = true // the golden file of the recorded case
	}
	s := newSuite(opts)
	defer s.close()
	var out []CaseResult
	for _, c := range cases {
		if opts.Filter != nil && !opts.Filter.MatchString(c.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if opts.OnStart != nil {
			opts.OnStart(c.name)
		}
		var sink engine.Sink
		if opts.Sink != nil {
			sink = opts.Sink(c.name)
		}
		var res CaseResult
		if opts.Record {
			start := time.Now()
			if err := s.record(ctx, c, sink); err != nil {
				res = CaseResult{Name: c.name, Dir: c.dir, Err: err, Duration: time.Since(start)}
			} else {
				res = s.run(ctx, c, nil)
				res.Recorded = true
				res.Duration = time.Since(start)
			}
		} else {
			res = s.run(ctx, c, sink)
		}
		if opts.OnResult != nil {
			opts.OnResult(res)
		}
		out = append(out, res)
	}
	return out, nil
}

// Run runs every case at path as a subtest of t. BPTEST_UPDATE=1 in the
// environment rewrites the golden files (go test's own flags are not
// ours to add to); BP_PYTHON picks the interpreter. A path with no cases
// fails the test, so that a misplaced call does not pass silently.
func Run(t *testing.T, path string) {
	t.Helper()
	RunWith(t, path, Options{
		Update: os.Getenv("BPTEST_UPDATE") != "" && os.Getenv("BPTEST_UPDATE") != "0",
		Python: os.Getenv("BP_PYTHON"),
	})
}

// RunWith is Run with options; OnStart and OnResult are ignored. Under
// go test -v, without a Sink of its own, each case's run log goes to
// t.Log as it happens.
func RunWith(t *testing.T, path string, opts Options) {
	t.Helper()
	cases, err := findCases(path)
	if err != nil {
		t.Fatalf("bptest: %v", err)
	}
	if len(cases) == 0 {
		t.Fatalf("bptest: no golden-file test cases at %s (want testdata/NAME/%s beside NAME.bp.yaml)", path, CaseFile)
	}
	s := newSuite(opts)
	t.Cleanup(s.close)
	for _, c := range cases {
		if opts.Filter != nil && !opts.Filter.MatchString(c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			// Failures point at the caller's call of Run, not here.
			t.Helper()
			var sink engine.Sink
			switch {
			case opts.Sink != nil:
				sink = opts.Sink(c.name)
			case testing.Verbose():
				sink = runner.NewConsole(t.Output(), false)
			}
			res := s.run(t.Context(), c, sink)
			if res.Updated {
				t.Logf("updated %s", c.goldenPath())
			}
			if res.Err != nil {
				t.Errorf("%v", res.Err)
			}
			if res.Diff != "" {
				t.Errorf("the run differs from %s (BPTEST_UPDATE=1 go test ... rewrites it):\n%s", c.goldenPath(), res.Diff)
			}
		})
	}
}

// suite is what the cases of one RunCases share: the Python code block
// type (one fork server) and the loaded blueprints of each directory.
type suite struct {
	opts Options
	code *blocks.Code
	// cache keeps, from case to case, the scrubber built for each set of
	// fake vault values.
	cache *runner.Cache

	mu   sync.Mutex
	sets map[string]*blueprints.Set
}

func newSuite(opts Options) *suite {
	return &suite{opts: opts, code: blocks.NewCode(blocks.Options{Python: opts.Python}), cache: runner.NewCache(), sets: map[string]*blueprints.Set{}}
}

func (s *suite) close() {
	s.code.Close()
	s.cache.Clear()
}

func (s *suite) set(root string) (*blueprints.Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set, ok := s.sets[root]; ok {
		return set, nil
	}
	set, err := blueprints.Load(root)
	if err != nil {
		return nil, err
	}
	s.sets[root] = set
	return set, nil
}

// run runs one case; sink, when not nil, gets its run's events too.
func (s *suite) run(ctx context.Context, c *testCase, sink engine.Sink) (res CaseResult) {
	start := time.Now()
	res = CaseResult{Name: c.name, Dir: c.dir}
	defer func() { res.Duration = time.Since(start) }()

	spec, err := parseCase(c.casePath())
	if err != nil {
		res.Err = err
		return res
	}
	caseScrub := scrub.New()
	for _, v := range spec.vault {
		caseScrub.Add(v)
	}
	runScrub := scrub.New()
	clean := func(text string) string { return runScrub.String(caseScrub.String(text)) }
	fail := func(err error) CaseResult {
		res.Err = errors.New(clean(err.Error()))
		return res
	}

	set, err := s.set(c.root)
	if err != nil {
		return fail(err)
	}
	key, err := spec.blueprintKey(c)
	if err != nil {
		return fail(err)
	}

	rp := newReplayer(spec.exchanges)
	reg := blocks.NewRegistry()
	blocks.Core(reg)
	reg.Register(blocks.NewHTTPRequest(blocks.HTTPOptions{Transport: rp}))
	reg.Register(s.code)
	for _, t := range s.opts.Types {
		reg.Register(t)
	}
	r := runner.New(runner.Options{
		Library: runner.NewLibrary(set, reg),
		Secrets: runner.StaticSecrets(spec.vault),
		Cache:   s.cache,
		Timeout: spec.timeout,
		LookupEnv: func(name string) (string, bool) {
			v, ok := spec.env[name]
			return v, ok
		},
	})
	rec := newRecorder()
	sinks := []engine.Sink{rec}
	if sink != nil {
		sinks = append(sinks, sink)
	}
	out, err := r.Run(ctx, runner.Request{
		Blueprint: key,
		Payload:   spec.payload,
		Context:   spec.context,
		State:     spec.state,
		Trigger:   spec.trigger,
		Sinks:     sinks,
		Scrubber:  runScrub,
	})
	if err != nil {
		return fail(err)
	}
	actual := rec.summary(out)

	problems := rp.problems()
	if names := secretsIn(actual, spec.vault); len(names) > 0 {
		problems = append(problems, fmt.Sprintf("the run's summary holds the value of vault secret %s, unscrubbed (a secret the blueprint does not list under vault: is not scrubbed)", strings.Join(names, ", ")))
	}

	golden, gerr := os.ReadFile(c.goldenPath())
	if s.opts.Update {
		// The file being replaced may hold a secret, and version control
		// keeps it after the update: say so, and fail.
		var leaked string
		if names := secretsIn(golden, spec.vault); gerr == nil && len(names) > 0 {
			leaked = fmt.Sprintf("%s held the value of vault secret %s (raw or encoded); ", c.goldenPath(), strings.Join(names, ", "))
		}
		if len(problems) > 0 {
			problems = append(problems, c.goldenPath()+" not written")
			if leaked != "" {
				problems = append(problems, leaked+"remove it, and rotate the secret if that value was ever real")
			}
			return fail(errors.New(strings.Join(problems, "\n")))
		}
		if gerr != nil || !bytes.Equal(golden, actual) {
			if err := os.WriteFile(c.goldenPath(), actual, 0o644); err != nil {
				return fail(err)
			}
			res.Updated = true
		}
		if leaked != "" {
			return fail(errors.New(leaked + "it is rewritten without it, but version control may keep the old file: rotate the secret if that value was ever real"))
		}
		res.Passed = true
		return res
	}
	if errors.Is(gerr, fs.ErrNotExist) {
		problems = append(problems, c.goldenPath()+" is missing: write it with bp test -update (or BPTEST_UPDATE=1 go test)")
		return fail(errors.New(strings.Join(problems, "\n")))
	}
	if gerr != nil {
		return fail(gerr)
	}
	if names := secretsIn(golden, spec.vault); len(names) > 0 {
		problems = append(problems, fmt.Sprintf("%s holds the value of vault secret %s (raw or encoded): a golden file must never hold a secret", c.goldenPath(), strings.Join(names, ", ")))
	}
	res.Diff = clean(unifiedDiff(c.goldenPath(), "actual run", string(golden), string(actual)))
	if len(problems) > 0 {
		res.Err = errors.New(clean(strings.Join(problems, "\n")))
	}
	res.Passed = res.Diff == "" && res.Err == nil
	return res
}

// secretsIn names the vault secrets whose value appears in text, raw or
// in any form the scrubber knows.
func secretsIn(text []byte, vault map[string]string) []string {
	var names []string
	for name, v := range vault {
		s := scrub.New()
		if s.Add(v) && !bytes.Equal(s.Bytes(text), text) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
