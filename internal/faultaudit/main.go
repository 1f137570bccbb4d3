// Command faultaudit plants faults in the security guards of the module,
// one at a time, runs the tests that should catch each, and reports the
// faults that survive: a guard whose removal no test notices is a guard
// nothing keeps.
//
//	go run ./internal/faultaudit                 # every fault in faults.yaml
//	go run ./internal/faultaudit -run vault      # the faults whose name matches
//
// The faults are planted in a copy of the module in a temporary directory;
// the sources are never changed. Exit status 1 when a fault survived, no
// longer applies to the code (stale) or does not build; 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("faultaudit", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("C", "", "the module to audit (default: the module of the current directory)")
	list := fl.String("faults", "", "the list of faults (default: internal/faultaudit/faults.yaml in the module)")
	only := fl.String("run", "", "plant only the faults whose name matches this regular expression")
	timeout := fl.Duration("timeout", 10*time.Minute, "go test -timeout for each fault")
	verbose := fl.Bool("v", false, "print go test's output for every fault, not only the ones to read")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "faultaudit:", err)
		return 2
	}
	if *root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fail(err)
		}
		if *root, err = moduleRoot(wd); err != nil {
			return fail(err)
		}
	}
	if *list == "" {
		*list = filepath.Join(*root, "internal", "faultaudit", "faults.yaml")
	}
	match, err := regexp.Compile(*only)
	if err != nil {
		return fail(fmt.Errorf("-run: %w", err))
	}
	faults, err := readFaults(*list)
	if err != nil {
		return fail(err)
	}
	var chosen []Fault
	for _, f := range faults {
		if match.MatchString(f.Name) {
			chosen = append(chosen, f)
		}
	}
	if len(chosen) == 0 {
		return fail(fmt.Errorf("no fault in %s matches %q", *list, *only))
	}

	a, err := newAuditor(*root, *timeout)
	if err != nil {
		return fail(err)
	}
	defer a.close()
	fmt.Fprintf(stdout, "faultaudit: %d faults; the tests first run without any\n", len(chosen))
	if err := a.baseline(ctx, chosen); err != nil {
		fmt.Fprintln(stderr, "faultaudit:", err)
		return 1
	}
	counts := map[Verdict]int{}
	for _, f := range chosen {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "faultaudit: interrupted")
			return 1
		}
		o := a.plant(ctx, f)
		counts[o.Verdict]++
		report(stdout, o, *verbose)
	}
	fmt.Fprintf(stdout, "faultaudit: %d caught, %d survived, %d stale, %d broken\n",
		counts[Caught], counts[Survived], counts[Stale], counts[Broken])
	if counts[Caught] != len(chosen) {
		return 1
	}
	return 0
}

func report(w io.Writer, o Outcome, verbose bool) {
	line := fmt.Sprintf("%-8s  %s  (%s)", o.Verdict, o.Fault.Name, o.Fault.File)
	if len(o.Failed) > 0 {
		line += ": " + strings.Join(o.Failed, ", ")
	}
	fmt.Fprintln(w, line)
	if o.Detail != "" && (verbose || o.Verdict != Caught || len(o.Failed) == 0) {
		for _, l := range strings.Split(strings.TrimRight(o.Detail, "\n"), "\n") {
			fmt.Fprintln(w, "          "+l)
		}
	}
}

// moduleRoot is the nearest directory at or above dir with a go.mod.
func moduleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a Go module (no go.mod found)")
		}
		dir = parent
	}
}
