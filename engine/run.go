package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// shared is what every part of one run shares: the top-level blueprint's
// run, its loop iterations and the blueprints it calls.
type shared struct {
	runID string
	opts  *RunOptions
	sink  Sink
	state *stateStore

	loadMu    sync.Mutex // one loadSecrets at a time, so none returns before the values are in
	secretsMu sync.Mutex
	secrets   map[string]string // values read so far
	allNames  map[string]bool   // every name in the vault, once listed
	audited   map[[2]string]bool

	warnedMu sync.Mutex
	warned   map[string]bool // run-wide warnings given (WarnOnce)

	closed atomic.Bool // set once run.finished is emitted

	journal *journal // nil without RunOptions.Journal
}

// markWarned notes a run-wide warning as given.
func (sh *shared) markWarned(msg string) {
	sh.warnedMu.Lock()
	defer sh.warnedMu.Unlock()
	if sh.warned == nil {
		sh.warned = map[string]bool{}
	}
	sh.warned[msg] = true
}

// env reads an environment variable listed under env:.
func (sh *shared) env(name string) (any, bool) {
	if sh.opts.LookupEnv == nil {
		return nil, false
	}
	v, ok := sh.opts.LookupEnv(name)
	if ok && sh.opts.OnSecret != nil {
		// Listed variables are usually tokens: scrub them like secrets.
		sh.opts.OnSecret(v)
	}
	return v, ok
}

// loopFrame is one level of foreach: @{item}, @{itemId} and, with a
// prefix, @{<prefix>_item} and @{<prefix>_itemId}.
type loopFrame struct {
	prefix string
	item   any
	itemID any
	outer  *loopFrame
}

// blockOutcome is a finished block's result, stored once, then read
// without locks by later blocks.
type blockOutcome struct {
	outcome string
	value   any
	err     error
	status  string
}

// run executes one region of a program: a whole blueprint, one loop
// iteration, or one called blueprint. The scheduler state is guarded by
// mu; workers take ready blocks, run them without the lock, and decide the
// outgoing edges under it. A chain of blocks thus runs in one goroutine
// with no handoff, and ready blocks fan out to at most maxPar workers.
type run struct {
	sh      *shared
	prog    *Program
	reg     *region
	parent  *run // the run a loop iteration belongs to
	payload any
	context map[string]any
	loop    *loopFrame
	scope   string
	depth   int

	ctx    context.Context
	cancel context.CancelCauseFunc

	results []atomic.Pointer[blockOutcome]

	mu        sync.Mutex
	pending   []int32
	taken     []bool
	trigger   []int32 // the source of the last taken edge into each block
	ready     []int32
	workers   int
	maxPar    int
	remaining int
	finished  bool
	done      chan struct{}
	status    string
	ret       any
	hasRet    bool
	err       error
	wg        sync.WaitGroup
}

// Run runs the program once. It returns when the run has ended and its
// blocks have stopped; events go to opts.Sink as they happen.
func (p *Program) Run(ctx context.Context, opts RunOptions) *RunResult {
	start := time.Now()
	if opts.RunID == "" {
		opts.RunID = uuid.NewString()
	}
	sink := opts.Sink
	if sink == nil {
		sink = Discard
	}
	sh := &shared{
		runID:   opts.RunID,
		opts:    &opts,
		sink:    sink,
		state:   newStateStore(opts.State),
		secrets: map[string]string{},
		audited: map[[2]string]bool{},
	}
	res := &RunResult{RunID: opts.RunID, Blueprint: p.bp.Key}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, &TimeoutError{What: "run", After: opts.Timeout})
		defer cancel()
	}
	key := ""
	if opts.Trigger != "" {
		key = "trigger:" + opts.Trigger
	}
	for _, w := range p.warmers {
		go w.Warm(ctx, p.bp)
	}
	// Secrets are loaded and handed to the scrubber before the first
	// event, so nothing the run emits can hold one unmasked, unless the
	// caller did that already.
	var err error
	if !opts.SecretsMasked {
		err = sh.loadSecrets(ctx, p.bp)
	}
	var replay []*Checkpoint
	if err == nil && opts.Journal != nil {
		replay, err = sh.openJournal(ctx)
	}
	var r *run
	if err == nil {
		var reg *region
		reg, err = p.region(key)
		if err == nil {
			r = newRun(ctx, sh, p, reg, nil, opts.Payload, opts.Context, nil, "", 0)
		}
	}
	sink.Emit(&Event{Time: start, Run: sh.runID, Kind: RunStarted, Blueprint: p.bp.Key, Status: StatusRunning})
	sh.replayEvents(replay)
	if err != nil {
		res.Status, res.Err = StatusFailed, err
	} else {
		r.execute()
		res.Status, res.Return, res.HasReturn, res.Err = r.status, r.ret, r.hasRet, r.err
	}
	res.Duration = time.Since(start)
	for _, e := range p.enders {
		e.EndRun(sh.runID)
	}
	sh.closed.Store(true)
	ev := &Event{Time: time.Now(), Run: sh.runID, Kind: RunFinished, Blueprint: p.bp.Key, Status: res.Status, Duration: res.Duration}
	if res.HasReturn {
		ev.Result = res.Return
	}
	if res.Err != nil {
		ev.Message = res.Err.Error()
	}
	sink.Emit(ev)
	return res
}

func newRun(ctx context.Context, sh *shared, p *Program, reg *region, parent *run, payload any, rctx map[string]any, loop *loopFrame, scope string, depth int) *run {
	r := &run{
		sh: sh, prog: p, reg: reg, parent: parent,
		payload: payload, context: rctx, loop: loop, scope: scope, depth: depth,
		results:   make([]atomic.Pointer[blockOutcome], len(reg.nodes)),
		pending:   append([]int32(nil), reg.pending...),
		taken:     make([]bool, len(reg.nodes)),
		trigger:   make([]int32, len(reg.nodes)),
		remaining: len(reg.nodes),
		done:      make(chan struct{}),
		maxPar:    sh.opts.MaxParallel,
	}
	if r.maxPar <= 0 {
		r.maxPar = DefaultMaxParallel
	}
	for i := range r.trigger {
		r.trigger[i] = -1
	}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	return r
}

// execute runs the region to its end. The calling goroutine is the first
// worker.
func (r *run) execute() {
	defer r.cancel(nil)
	r.mu.Lock()
	if r.reg.pre >= 0 {
		// A loop iteration starts as if its loop block had just ended with
		// the loop outcome.
		r.remaining--
		loop := r.prog.nodes[r.reg.nodes[r.reg.pre]].ts.Loop
		r.results[r.reg.pre].Store(&blockOutcome{outcome: loop, status: StatusRunning})
		r.decideLocked(r.reg.pre, loop)
	}
	r.ready = append(r.ready, r.reg.starts...)
	if r.remaining == 0 {
		r.finishLocked(StatusCompleted, nil, false, nil)
	}
	// Every worker is a goroutine of its own, the first too: a block that
	// ignores its context must not hold the run past its grace period.
	r.spawnLocked(0)
	if r.workers == 0 && !r.finished {
		r.finishLocked(StatusFailed, nil, false, fmt.Errorf("blueprint %s: internal error: no block can start", r.prog.bp.Key))
	}
	r.mu.Unlock()

	stop := context.AfterFunc(r.ctx, r.interrupted)
	<-r.done
	stop()
	r.cancel(errRunEnded)
	r.waitWorkers()
}

var errRunEnded = errors.New("run ended")

// interrupted ends the run when its context ends first: Ctrl-C, the run
// timeout, or the end of the run that contains this one.
func (r *run) interrupted() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.finishLocked(r.interruption())
}

// interruption is how the run ends when its context ended: failed on the
// run timeout, cancelled otherwise.
func (r *run) interruption() (string, any, bool, error) {
	cause := context.Cause(r.ctx)
	var te *TimeoutError
	if errors.As(cause, &te) {
		return StatusFailed, nil, false, cause
	}
	return StatusCancelled, nil, false, fmt.Errorf("run cancelled: %w", cause)
}

// TimeoutError is a run or a block that ran out of time.
type TimeoutError struct {
	What  string
	After time.Duration
}

func (e *TimeoutError) Error() string { return fmt.Sprintf("%s timed out after %s", e.What, e.After) }

// Is makes a timeout match context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// waitWorkers waits for blocks still running after the end of the run.
// They were cancelled; a block that ignores its context is abandoned after
// a grace period rather than hanging the run.
func (r *run) waitWorkers() {
	ch := make(chan struct{})
	go func() { r.wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
	}
}

// spawnLocked starts workers for the ready blocks that the available
// workers (the caller, about to take one) will not take, up to maxPar.
func (r *run) spawnLocked(available int) {
	for r.workers < r.maxPar && len(r.ready) > available {
		r.workers++
		available++
		r.wg.Add(1)
		go r.work()
	}
}

// work takes ready blocks until there are none.
func (r *run) work() {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		if r.finished || len(r.ready) == 0 {
			r.workers--
			if r.workers == 0 && !r.finished {
				// Cannot happen in a valid graph; never hang if it does.
				r.finishLocked(StatusFailed, nil, false, fmt.Errorf("blueprint %s: internal error: %d blocks can never become ready", r.prog.bp.Key, r.remaining))
			}
			r.mu.Unlock()
			return
		}
		local := r.ready[0]
		r.ready = r.ready[1:]
		r.mu.Unlock()
		r.runBlock(local)
	}
}

// runBlock executes one block, or takes its outcome from the checkpoint
// of a previous attempt, and decides its outgoing edges.
func (r *run) runBlock(local int32) {
	n := r.prog.nodes[r.reg.nodes[local]]
	var out *blockOutcome
	if cp := r.sh.replayed(r.scope, n.spec.ID); cp != nil {
		out = &blockOutcome{outcome: cp.Outcome, value: cp.Result, status: cp.Status}
		if cp.Message != "" {
			out.err = errors.New(cp.Message)
		}
	} else {
		out = r.execBlock(n, local)
	}
	r.results[local].Store(out)
	res := Result{Outcome: out.outcome, Value: out.value, Err: out.err}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.remaining--
	switch {
	case out.status == StatusCancelled:
		r.finishLocked(r.interruption())
		return
	case out.status == StatusFailed && !r.hasEdge(local, res.Outcome):
		r.finishLocked(StatusFailed, nil, false, &BlockError{Blueprint: r.prog.bp.Key, Block: n.spec.ID, Type: n.ts.Name, Outcome: res.Outcome, Err: res.Err})
		return
	case n.ts.Return && out.status == StatusSucceeded:
		r.finishLocked(StatusReturned, res.Value, true, nil)
		return
	}
	r.decideLocked(local, res.Outcome)
	if r.remaining == 0 {
		r.finishLocked(StatusCompleted, nil, false, nil)
		return
	}
	r.spawnLocked(1)
}

// execBlock runs one block, emits its events and records its checkpoint.
func (r *run) execBlock(n *node, local int32) *blockOutcome {
	c := &Call{r: r, n: n, local: local}
	if r.sh.journal != nil {
		c.rec = &callRecord{}
	}
	start := time.Now()
	r.emit(&Event{Time: start, Kind: BlockStarted, Block: n.spec.ID, Type: n.ts.Name, Status: StatusRunning})
	res := c.invoke(r.ctx)
	d := time.Since(start)

	out := &blockOutcome{outcome: res.Outcome, value: res.Value, err: res.Err, status: StatusSucceeded}
	switch {
	case r.ctx.Err() != nil && res.Err != nil:
		out.status = StatusCancelled
	case n.ts.IsErrorOutcome(res.Outcome):
		out.status = StatusFailed
	}
	ev := &Event{Time: time.Now(), Kind: BlockFinished, Block: n.spec.ID, Type: n.ts.Name, Outcome: res.Outcome, Status: out.status, Result: res.Value, Duration: d}
	if res.Err != nil {
		ev.Message = res.Err.Error()
	}
	r.emit(ev)
	if c.rec != nil && out.status != StatusCancelled && !r.replayable(n, out) {
		r.checkpoint(c, out, start, d)
	}
	return out
}

// hasEdge reports whether the block has an edge for an outcome.
func (r *run) hasEdge(local int32, outcome string) bool {
	for _, e := range r.reg.outs[local] {
		if e.outcome == outcome {
			return true
		}
	}
	return false
}

// decideLocked decides a finished block's outgoing edges: taken when the
// edge is for the block's outcome. A block whose edges are all decided
// becomes ready if one was taken, and is skipped otherwise; a skip decides
// that block's own edges as not taken.
func (r *run) decideLocked(local int32, outcome string) {
	type decision struct {
		from    int32
		outcome string
	}
	work := []decision{{local, outcome}}
	for len(work) > 0 {
		d := work[len(work)-1]
		work = work[:len(work)-1]
		for _, e := range r.reg.outs[d.from] {
			if e.outcome == d.outcome && d.outcome != "" {
				r.taken[e.to] = true
				r.trigger[e.to] = d.from
			}
			r.pending[e.to]--
			if r.pending[e.to] != 0 {
				continue
			}
			if r.taken[e.to] {
				r.ready = append(r.ready, e.to)
				continue
			}
			r.remaining--
			n := r.prog.nodes[r.reg.nodes[e.to]]
			r.results[e.to].Store(&blockOutcome{status: StatusSkipped})
			r.emit(&Event{Time: time.Now(), Kind: BlockFinished, Block: n.spec.ID, Type: n.ts.Name, Status: StatusSkipped})
			work = append(work, decision{e.to, ""})
		}
	}
}

// finishLocked ends the run once; blocks still running are cancelled.
func (r *run) finishLocked(status string, ret any, hasRet bool, err error) {
	if r.finished {
		return
	}
	r.finished = true
	r.status, r.ret, r.hasRet, r.err = status, ret, hasRet, err
	r.ready = nil
	close(r.done)
	r.cancel(errRunEnded)
}

// emit stamps an event with the run's identity and sends it to the sink.
// Events of blocks abandoned after the run ended are dropped: nothing may
// follow run.finished.
func (r *run) emit(e *Event) {
	if r.sh.closed.Load() {
		return
	}
	e.Run = r.sh.runID
	e.Blueprint = r.prog.bp.Key
	e.Scope = r.scope
	r.sh.sink.Emit(e)
}

// outcomeOf finds the result of a block by id in this run or, for a loop
// iteration, the runs around it.
func (r *run) outcomeOf(id string) (*blockOutcome, bool) {
	gi, ok := r.prog.byID[NormName(id)]
	if !ok {
		return nil, false
	}
	for x := r; x != nil; x = x.parent {
		if li := x.reg.local[gi]; li >= 0 {
			if o := x.results[li].Load(); o != nil && o.status != StatusRunning {
				return o, true
			}
		}
	}
	return nil, false
}

// resultsMap is @{results}: every block that has finished, by id.
func (r *run) resultsMap() map[string]any {
	out := map[string]any{}
	for x := r; x != nil; x = x.parent {
		for li, gi := range x.reg.nodes {
			id := x.prog.nodes[gi].spec.ID
			if _, seen := out[id]; seen {
				continue
			}
			if o := x.results[li].Load(); o != nil && o.status != StatusRunning && o.status != StatusSkipped {
				out[id] = o.value
			}
		}
	}
	return out
}

// loopValue finds item, itemId and <prefix>_item / <prefix>_itemId.
func (r *run) loopValue(name string) (any, bool) {
	if r.loop == nil {
		return nil, false
	}
	switch name {
	case "item":
		return r.loop.item, true
	case "itemId":
		return r.loop.itemID, true
	}
	for f := r.loop; f != nil; f = f.outer {
		if f.prefix == "" {
			continue
		}
		switch name {
		case f.prefix + "_item":
			return f.item, true
		case f.prefix + "_itemId":
			return f.itemID, true
		}
	}
	return nil, false
}

// loadSecrets reads every secret the blueprint can see and hands each value
// to OnSecret, so that the scrubber knows them before the run emits
// anything.
func (sh *shared) loadSecrets(ctx context.Context, bp *Blueprint) error {
	src := sh.opts.Secrets
	if src == nil {
		return nil
	}
	sh.loadMu.Lock()
	defer sh.loadMu.Unlock()
	names := bp.Vault
	if names == nil {
		sh.secretsMu.Lock()
		known := sh.allNames != nil
		sh.secretsMu.Unlock()
		if known {
			return nil
		}
		all, err := src.SecretNames(ctx)
		if err != nil {
			return fmt.Errorf("blueprint %s: listing the vault: %w", bp.Key, err)
		}
		sort.Strings(all)
		names = all
		defer func() {
			sh.secretsMu.Lock()
			defer sh.secretsMu.Unlock()
			sh.allNames = map[string]bool{}
			for _, n := range all {
				sh.allNames[n] = true
			}
		}()
	}
	for _, name := range names {
		sh.secretsMu.Lock()
		_, have := sh.secrets[name]
		sh.secretsMu.Unlock()
		if have {
			continue
		}
		v, err := src.Secret(ctx, name)
		if errors.Is(err, ErrSecretNotFound) && bp.Vault != nil {
			// A listed secret that is missing is reported by the block that
			// reads it, naming it there.
			continue
		}
		if err != nil {
			return fmt.Errorf("blueprint %s: %w", bp.Key, err)
		}
		if sh.opts.OnSecret != nil {
			sh.opts.OnSecret(v)
		}
		sh.secretsMu.Lock()
		sh.secrets[name] = v
		sh.secretsMu.Unlock()
	}
	return nil
}
