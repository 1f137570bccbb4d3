package engine

import "fmt"

// region is the part of a program one run executes: the blocks reachable
// from its start blocks, without the branches of foreach loops (each
// iteration of a loop runs that branch as a region of its own). It is
// computed once per start and reused by every run.
type region struct {
	nodes   []int   // global indices, in blueprint order
	local   []int32 // global index -> local index, -1 outside
	pending []int32 // initial count of undecided incoming edges, per local node
	starts  []int32 // local nodes that are ready at once
	pre     int32   // local index of the loop block an iteration starts from, or -1
	outs    [][]localEdge
}

// region returns (and caches) the region for a start: "" for the default
// starts, "trigger:ID" for one trigger, "loop:ID" for a loop's branch.
func (p *Program) region(key string) (*region, error) {
	p.regionsMu.Lock()
	defer p.regionsMu.Unlock()
	if r, ok := p.regions[key]; ok {
		return r, nil
	}
	var starts []int
	pre := -1
	switch {
	case key == "":
		for _, n := range p.nodes {
			if n.ts.Trigger {
				starts = append(starts, n.idx)
			}
		}
		if len(starts) == 0 {
			for _, n := range p.nodes {
				if n.ins == 0 {
					starts = append(starts, n.idx)
				}
			}
		}
	case len(key) > 8 && key[:8] == "trigger:":
		id := key[8:]
		idx, ok := p.byID[NormName(id)]
		if !ok {
			return nil, fmt.Errorf("blueprint %s has no block %q to start at", p.bp.Key, id)
		}
		starts = []int{idx}
	case len(key) > 5 && key[:5] == "loop:":
		pre = p.byID[NormName(key[5:])]
	default:
		return nil, fmt.Errorf("unknown region %q", key)
	}

	member := make([]bool, len(p.nodes))
	isStart := make([]bool, len(p.nodes))
	var queue []int
	visit := func(i int) {
		if !member[i] {
			member[i] = true
			queue = append(queue, i)
		}
	}
	for _, s := range starts {
		isStart[s] = true
		visit(s)
	}
	if pre >= 0 {
		member[pre] = true
		loop := p.nodes[pre].ts.Loop
		for _, e := range p.nodes[pre].outs {
			if e.outcome == loop {
				visit(e.to)
			}
		}
	}
	for len(queue) > 0 {
		n := p.nodes[queue[0]]
		queue = queue[1:]
		for _, e := range n.outs {
			if n.ts.Loop != "" && e.outcome == n.ts.Loop {
				continue
			}
			visit(e.to)
		}
	}

	r := &region{local: make([]int32, len(p.nodes)), pre: -1}
	for i := range r.local {
		r.local[i] = -1
	}
	for i, m := range member {
		if m {
			r.local[i] = int32(len(r.nodes))
			r.nodes = append(r.nodes, i)
		}
	}
	if pre >= 0 {
		r.pre = r.local[pre]
	}
	for _, s := range starts {
		r.starts = append(r.starts, r.local[s])
	}
	// An edge takes part in scheduling when it leads from a member to a
	// member that is not a start, and is not the loop branch of a loop
	// other than the one this region iterates.
	r.pending = make([]int32, len(r.nodes))
	r.outs = make([][]localEdge, len(r.nodes))
	for li, gi := range r.nodes {
		n := p.nodes[gi]
		for _, e := range n.outs {
			to := r.local[e.to]
			if to < 0 || isStart[e.to] {
				continue
			}
			if n.ts.Loop != "" && e.outcome == n.ts.Loop && int32(li) != r.pre {
				continue
			}
			r.outs[li] = append(r.outs[li], localEdge{outcome: e.outcome, to: to})
			r.pending[to]++
		}
	}
	p.regions[key] = r
	return r, nil
}

// localEdge is an edge between two blocks of a region, by local index.
type localEdge struct {
	outcome string
	to      int32
}
