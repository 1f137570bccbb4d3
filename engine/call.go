package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Call is one execution of one block: the block's view of its run. Its
// methods are safe to use from the goroutines a block starts, until Run
// returns.
type Call struct {
	r     *run
	n     *node
	local int32
	rec   *callRecord // what the block emits, for its checkpoint; nil without a journal
}

// BlockError is a block that failed without an edge to handle the failure,
// which fails the run.
type BlockError struct {
	Blueprint string
	Block     string
	Type      string
	Outcome   string
	Err       error
}

func (e *BlockError) Error() string {
	msg := "failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Outcome != "" && e.Outcome != "error" {
		return fmt.Sprintf("block %s (%s) ended with %s: %s", e.Block, e.Type, e.Outcome, msg)
	}
	return fmt.Sprintf("block %s (%s): %s", e.Block, e.Type, msg)
}

func (e *BlockError) Unwrap() error { return e.Err }

// FieldError is a field that could not be evaluated.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %s: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// invoke runs the block with its timeout, turning a panic into its error.
func (c *Call) invoke(ctx context.Context) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = Failure(fmt.Errorf("panic in block %s (%s): %v", c.n.spec.ID, c.n.ts.Name, p))
			res.Outcome = c.errorOutcome(res.Outcome)
			c.Output("stderr", string(debug.Stack()))
		}
	}()
	timeout, err := c.timeout()
	if err != nil {
		return Result{Outcome: c.errorOutcome("error"), Err: err}
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, &TimeoutError{What: "block " + c.n.spec.ID, After: timeout})
		defer cancel()
	}
	res = c.n.typ.Run(ctx, c)
	if res.Outcome == "" {
		if res.Err != nil {
			res.Outcome = "error"
		} else {
			res.Outcome = "success"
		}
	}
	res.Outcome = c.errorOutcome(res.Outcome)
	if res.Err != nil && ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(res.Err, cause) {
			var te *TimeoutError
			if errors.As(cause, &te) {
				res.Err = fmt.Errorf("%w (%v)", cause, res.Err)
			}
		}
	}
	if !c.n.ts.HasOutcome(res.Outcome) {
		res = Result{Outcome: c.errorOutcome("error"), Err: fmt.Errorf("block type %s returned unknown outcome %q", c.n.ts.Name, res.Outcome)}
	}
	return res
}

// errorOutcome maps the generic "error" (of Failure, a panic, a bad
// timeout) to the type's own error outcome when "error" is not one of its
// outcomes, so that a failure can never pass for a success.
func (c *Call) errorOutcome(outcome string) string {
	ts := c.n.ts
	if outcome != "error" || ts.HasOutcome("error") && ts.IsErrorOutcome("error") {
		return outcome
	}
	if len(ts.ErrorOutcomes) > 0 {
		return ts.ErrorOutcomes[0]
	}
	return outcome
}

// timeout is the block's timeout field, else its type's default.
func (c *Call) timeout() (time.Duration, error) {
	if c.n.ts.Field("timeout") == nil || !c.Has("timeout") {
		return c.n.ts.DefaultTimeout, nil
	}
	return c.Duration("timeout", c.n.ts.DefaultTimeout)
}

// Context is the run's context... not to confuse with @{context}: blocks
// get their context.Context as Run's argument.

// ID is the block's id.
func (c *Call) ID() string { return c.n.spec.ID }

// Spec is the block as written in the blueprint.
func (c *Call) Spec() *BlockSpec { return c.n.spec }

// Blueprint is the blueprint the block belongs to.
func (c *Call) Blueprint() *Blueprint { return c.r.prog.bp }

// RunID identifies the run.
func (c *Call) RunID() string { return c.r.sh.runID }

// Has reports whether the block sets a field.
func (c *Call) Has(name string) bool {
	_, ok := c.n.fields[name]
	return ok
}

// Raw is a field's value as written, before evaluation.
func (c *Call) Raw(name string) any {
	if fv, ok := c.n.fields[name]; ok {
		return fv.raw
	}
	return nil
}

// Field evaluates a field; nil when the block does not set it.
func (c *Call) Field(name string) (any, error) {
	fv, ok := c.n.fields[name]
	if !ok {
		return nil, nil
	}
	return c.eval(name, fv, fv.kind == FieldJSON)
}

// JSONText evaluates a field whose text is JSON (whatever the field's
// kind), inserting values JSON-escaped, and returns the result unparsed:
// for fields that are JSON only for some blocks (an HTTP body with
// bodyType JSON).
func (c *Call) JSONText(name string) (any, error) {
	fv, ok := c.n.fields[name]
	if !ok {
		return nil, nil
	}
	return c.eval(name, fv, true)
}

func (c *Call) eval(name string, fv *fieldValue, jsonText bool) (any, error) {
	s := scope{c: c, field: name}
	v, err := fv.eval(&s, jsonText)
	if err != nil {
		return nil, &FieldError{Field: name, Err: err}
	}
	return v, nil
}

// String evaluates a field as text: "" when unset, non-strings as JSON.
func (c *Call) String(name string) (string, error) {
	v, err := c.Field(name)
	if err != nil || v == nil {
		return "", err
	}
	return textOf(v), nil
}

// JSON evaluates a field that holds JSON and parses it: first with the
// values it inserts JSON-escaped (a quote in a value stays data, and
// cannot add keys), else as written (a value that is JSON text itself,
// spliced in). Whatever the field's kind. An unset or empty field is nil.
func (c *Call) JSON(name string) (any, error) {
	f, err := c.jsonField(name)
	if err != nil {
		return nil, err
	}
	if f.parseErr != nil {
		return nil, &FieldError{Field: name, Err: fmt.Errorf("not valid JSON: %v", f.parseErr)}
	}
	return f.value, nil
}

// JSONOrText is the field's value as JSON reads it (see JSON), else its
// text as written: Writer's "JSON if it parses, else text".
func (c *Call) JSONOrText(name string) (any, error) {
	f, err := c.jsonField(name)
	if err != nil {
		return nil, err
	}
	if f.parseErr != nil {
		return f.text, nil
	}
	return f.value, nil
}

// parsedField is a field read as JSON: its value, or, when neither way of
// reading it is JSON, why not and its text as written.
type parsedField struct {
	value    any
	text     any
	parseErr error
}

// jsonField evaluates name once, both ways (see JSON).
func (c *Call) jsonField(name string) (parsedField, error) {
	fv, ok := c.n.fields[name]
	if !ok {
		return parsedField{}, nil
	}
	s := scope{c: c, field: name}
	esc, plain, err := fv.evalBoth(&s)
	if err != nil {
		return parsedField{}, &FieldError{Field: name, Err: err}
	}
	text, ok := esc.(string)
	if !ok {
		return parsedField{value: esc}, nil // a structured or typed value
	}
	if strings.TrimSpace(text) == "" {
		return parsedField{}, nil
	}
	parsed, perr := DecodeJSON([]byte(text))
	if perr == nil {
		return parsedField{value: parsed}, nil
	}
	if p, ok := plain.(string); ok && p != text {
		if parsed, err := DecodeJSON([]byte(p)); err == nil {
			return parsedField{value: parsed}, nil
		}
	}
	return parsedField{text: plain, parseErr: perr}, nil
}

// Duration evaluates a field as a duration (see ParseDuration).
func (c *Call) Duration(name string, def time.Duration) (time.Duration, error) {
	v, err := c.Field(name)
	if err != nil || v == nil || v == "" {
		return def, err
	}
	d, err := ParseDuration(v)
	if err != nil {
		return 0, &FieldError{Field: name, Err: err}
	}
	return d, nil
}

// Int evaluates a field as an integer (see ParseInt).
func (c *Call) Int(name string, def int) (int, error) {
	v, err := c.Field(name)
	if err != nil || v == nil || v == "" {
		return def, err
	}
	n, err := ParseInt(v)
	if err != nil {
		return 0, &FieldError{Field: name, Err: err}
	}
	return n, nil
}

// Bool evaluates a field as a boolean (see ParseBool).
func (c *Call) Bool(name string, def bool) (bool, error) {
	v, err := c.Field(name)
	if err != nil || v == nil || v == "" {
		return def, err
	}
	b, err := ParseBool(v)
	if err != nil {
		return false, &FieldError{Field: name, Err: err}
	}
	return b, nil
}

// Payload is the run's payload.
func (c *Call) Payload() any { return c.r.payload }

// result is @{result}: the result of the block whose taken edge led here.
func (c *Call) result() (any, bool) {
	if o := c.sourceOutcome(); o != nil {
		return o.value, true
	}
	return nil, true
}

// message is @{message}: the error of the block before, if it failed.
func (c *Call) message() (any, bool) {
	if o := c.sourceOutcome(); o != nil && o.err != nil {
		return o.err.Error(), true
	}
	return nil, true
}

func (c *Call) sourceOutcome() *blockOutcome {
	c.r.mu.Lock()
	src := c.r.trigger[c.local]
	c.r.mu.Unlock()
	if src < 0 {
		return nil
	}
	if src == c.r.reg.pre {
		return nil
	}
	return c.r.results[src].Load()
}

func (c *Call) resultsMap() map[string]any { return c.r.resultsMap() }

func (c *Call) contextValue() any {
	out := make(map[string]any, len(c.r.context)+2)
	for k, v := range c.r.context {
		out[k] = v
	}
	out["target"] = c.n.spec.ID
	out["blueprint"] = c.r.prog.bp.Key
	return out
}

// Data is a snapshot of what a block's code can read.
type Data struct {
	Payload any
	Result  any
	Results map[string]any
	Message any
	Context any
	Item    any
	ItemID  any
	State   map[string]any
}

// Data returns a snapshot of the run's data as this block sees it. The
// maps are shared with the run: treat them as read-only.
func (c *Call) Data() Data {
	d := Data{Payload: c.r.payload, Results: c.resultsMap(), Context: c.contextValue(), State: c.r.sh.state.snapshot()}
	d.Result, _ = c.result()
	d.Message, _ = c.message()
	if c.r.loop != nil {
		d.Item, d.ItemID = c.r.loop.item, c.r.loop.itemID
	}
	return d
}

// Output sends text the block printed to the run log.
func (c *Call) Output(stream, text string) {
	if c.rec != nil {
		c.rec.add(CheckpointOutput{Kind: BlockOutput, Block: c.n.spec.ID, Stream: stream, Message: text})
	}
	c.r.emit(&Event{Time: time.Now(), Kind: BlockOutput, Block: c.n.spec.ID, Type: c.n.ts.Name, Stream: stream, Message: text})
}

// Warn adds a warning about this block to the run log.
func (c *Call) Warn(msg string) {
	if c.rec != nil {
		c.rec.add(CheckpointOutput{Kind: RunWarning, Block: c.n.spec.ID, Message: msg})
	}
	c.r.emit(&Event{Time: time.Now(), Kind: RunWarning, Block: c.n.spec.ID, Type: c.n.ts.Name, Message: msg})
}

// WarnOnce adds a warning that concerns the whole run (the Python sandbox
// is missing, say) to the run log, once per run however many blocks give
// it.
func (c *Call) WarnOnce(msg string) {
	sh := c.r.sh
	sh.warnedMu.Lock()
	given := sh.warned[msg]
	if !given {
		if sh.warned == nil {
			sh.warned = map[string]bool{}
		}
		sh.warned[msg] = true
	}
	sh.warnedMu.Unlock()
	if !given {
		if c.rec != nil {
			c.rec.add(CheckpointOutput{Kind: RunWarning, Message: msg})
		}
		c.r.emit(&Event{Time: time.Now(), Kind: RunWarning, Message: msg})
	}
}

// Mask registers a value found at run time (a token from a login call) as
// a secret: from now on it is scrubbed from every output of the run.
func (c *Call) Mask(value string) {
	if value == "" || c.r.sh.opts.OnSecret == nil {
		return
	}
	c.r.sh.opts.OnSecret(value)
	if c.rec != nil {
		c.rec.mask(value)
	}
}

// secret reads one secret for this block.
func (c *Call) secret(name string) (string, error) {
	sh := c.r.sh
	bp := c.r.prog.bp
	if sh.opts.Secrets == nil {
		return "", fmt.Errorf("vault.%s: %w", name, ErrNoVault)
	}
	if bp.Vault != nil && !contains(bp.Vault, name) {
		return "", fmt.Errorf("vault.%s: %w: blueprint %s does not list it in its vault list", name, ErrSecretNotFound, bp.Key)
	}
	sh.secretsMu.Lock()
	v, ok := sh.secrets[name]
	sh.secretsMu.Unlock()
	if !ok && sh.opts.SecretsMasked {
		// Masked before the run started: opened only now that it is read.
		var err error
		if v, err = sh.opts.Secrets.Secret(c.r.ctx, name); err != nil {
			if errors.Is(err, ErrSecretNotFound) {
				return "", fmt.Errorf("vault.%s: %w in the vault", name, ErrSecretNotFound)
			}
			return "", fmt.Errorf("vault.%s: %w", name, err)
		}
		sh.secretsMu.Lock()
		sh.secrets[name] = v
		sh.secretsMu.Unlock()
		ok = true
	}
	if !ok {
		return "", fmt.Errorf("vault.%s: %w in the vault", name, ErrSecretNotFound)
	}
	sh.secretsMu.Lock()
	audited := sh.audited[[2]string{name, c.n.spec.ID}]
	sh.audited[[2]string{name, c.n.spec.ID}] = true
	sh.secretsMu.Unlock()
	if !audited && sh.opts.OnSecretRead != nil {
		sh.opts.OnSecretRead(name, c.n.spec.ID)
	}
	return v, nil
}

// Secrets is the vault as this block's code sees it: every secret the
// blueprint may read. Reading it counts as reading each of them.
func (c *Call) Secrets() (map[string]string, error) {
	sh := c.r.sh
	if sh.opts.Secrets == nil {
		return map[string]string{}, nil
	}
	names := c.r.prog.bp.Vault
	if names == nil {
		sh.secretsMu.Lock()
		listed := sh.allNames != nil
		for n := range sh.allNames {
			names = append(names, n)
		}
		sh.secretsMu.Unlock()
		if !listed && sh.opts.SecretsMasked {
			all, err := sh.opts.Secrets.SecretNames(c.r.ctx)
			if err != nil {
				return nil, fmt.Errorf("listing the vault: %w", err)
			}
			names = all
		}
	}
	out := make(map[string]string, len(names))
	for _, name := range names {
		v, err := c.secret(name)
		if errors.Is(err, ErrSecretNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// State returns the whole state. Treat it as read-only.
func (c *Call) State() map[string]any { return c.r.sh.state.snapshot() }

// SetState sets the value at a dotted state path.
func (c *Call) SetState(element string, value any) error {
	_, err := c.r.sh.state.update(element, func(any, bool) (any, error) { return value, nil })
	return err
}

// AppendState appends a value to the list at a dotted state path, creating
// the list, and returns the new list.
func (c *Call) AppendState(element string, value any) ([]any, error) {
	return c.r.sh.state.appendTo(element, value)
}

// MergeState sets and deletes top-level state keys at once.
func (c *Call) MergeState(set map[string]any, deleted []string) {
	c.r.sh.state.merge(set, deleted)
}

// LoopItem is one item of a foreach.
type LoopItem struct {
	ID   any // the index in a list, the key in an object
	Item any
}

// Loop runs the block's loop branch once per item, at most parallel at a
// time, and returns each iteration's return value in item order. The
// first iteration that fails stops the loop and is returned as its error.
func (c *Call) Loop(ctx context.Context, prefix string, items []LoopItem, parallel int) ([]any, error) {
	if c.n.ts.Loop == "" {
		return nil, fmt.Errorf("block type %s has no loop outcome", c.n.ts.Name)
	}
	reg, err := c.r.prog.region("loop:" + c.n.spec.ID)
	if err != nil {
		return nil, err
	}
	// Iterations are runs of their own; capping them at the run's bound
	// keeps --max-parallel meaningful for loops.
	if parallel < 1 {
		parallel = 1
	}
	if max := c.r.maxPar; parallel > max {
		parallel = max
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]any, len(items))
	var (
		mu       sync.Mutex
		firstErr error // the first iteration that failed, not one cancelled after it
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, parallel)
	for i := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			frame := &loopFrame{prefix: prefix, item: items[i].Item, itemID: items[i].ID, outer: c.r.loop}
			scope := c.r.scope
			if scope != "" {
				scope += "/"
			}
			scope += fmt.Sprintf("%s[%d]", c.n.spec.ID, i)
			sub := newRun(ctx, c.r.sh, c.r.prog, reg, c.r, c.r.payload, c.r.context, frame, scope, c.r.depth)
			sub.execute()
			switch sub.status {
			case StatusReturned:
				results[i] = sub.ret
			case StatusCompleted:
			default:
				mu.Lock()
				if firstErr == nil && sub.status == StatusFailed {
					firstErr = fmt.Errorf("iteration %d: %w", i, sub.err)
				}
				mu.Unlock()
				cancel()
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return results, nil
}

// RunBlueprint runs another blueprint of the library with a payload, in
// this run (sharing its state and vault), and returns its return value.
func (c *Call) RunBlueprint(ctx context.Context, key string, payload any) (any, error) {
	if c.r.depth+1 > MaxDepth {
		return nil, &DepthError{Key: key}
	}
	lib := c.r.sh.opts.Library
	if lib == nil {
		return nil, fmt.Errorf("blueprint %s: %w (no library of blueprints)", key, ErrNotFound)
	}
	prog, err := lib.Program(key)
	if err != nil {
		return nil, err
	}
	if err := c.r.sh.loadSecrets(ctx, prog.bp); err != nil {
		return nil, err
	}
	reg, err := prog.region("")
	if err != nil {
		return nil, err
	}
	scope := c.r.scope
	if scope != "" {
		scope += "/"
	}
	scope += c.n.spec.ID + ":" + key
	sub := newRun(ctx, c.r.sh, prog, reg, nil, payload, c.r.context, nil, scope, c.r.depth+1)
	sub.execute()
	switch sub.status {
	case StatusReturned:
		return sub.ret, nil
	case StatusCompleted:
		return nil, nil
	}
	// Said once, not once per level of the chain.
	if de := (*DepthError)(nil); errors.As(sub.err, &de) {
		return nil, de
	}
	return nil, fmt.Errorf("blueprint %s %s: %w", key, sub.status, sub.err)
}

// DepthError is a runblueprint chain deeper than MaxDepth (a blueprint
// that calls itself without end, most likely).
type DepthError struct{ Key string }

func (e *DepthError) Error() string {
	return fmt.Sprintf("blueprint %s: runblueprint nested deeper than %d", e.Key, MaxDepth)
}

// DecodeJSON decodes JSON into plain values (map[string]any, []any,
// float64, string, bool, nil), rejecting trailing data.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	// More is false before a stray '}' or ']': only the end of the input
	// ends the value.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}
