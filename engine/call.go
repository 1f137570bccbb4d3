package engine

// Call is one execution of one block: the block's view of its run.
type Call struct {
}
