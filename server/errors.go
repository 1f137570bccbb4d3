package server

import (
	"errors"
	"net/http"

	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
	"github.com/bprun/bp/scrub"
	"github.com/bprun/bp/vault"
)

// problem is one validation problem of a blueprint.
type problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Block   string `json:"block,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (s *Server) problemsOf(err error) []problem {
	var ve *engine.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	out := make([]problem, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = problem{File: p.Pos.File, Line: p.Pos.Line, Column: p.Pos.Column, Block: s.clean(nil, p.Block), Field: p.Field, Message: s.clean(nil, p.Message)}
	}
	return out
}

// runError answers a run that could not start. Its message went through
// the run's scrubber sc (nil when the run was refused before it had one)
// in the runner; it is masked again before and after encoding.
func (s *Server) runError(w http.ResponseWriter, err error, sc *scrub.Scrubber) {
	var (
		ve *engine.ValidationError
		fe *blueprints.FileError
	)
	msg := err.Error()
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		s.failScrubbed(w, http.StatusTooManyRequests, msg, sc)
	case errors.Is(err, errQueueTimeout):
		w.Header().Set("Retry-After", "1")
		s.failScrubbed(w, http.StatusServiceUnavailable, msg, sc)
	case errors.Is(err, errClosing):
		s.failScrubbed(w, http.StatusServiceUnavailable, msg, sc)
	case errors.As(err, &ve), errors.As(err, &fe):
		// Problems extracted with errors.As bypass the scrubbed message:
		// each is masked on its own.
		probs := s.problemsOf(err)
		for i := range probs {
			probs[i].Block, probs[i].Message = s.clean(sc, probs[i].Block), s.clean(sc, probs[i].Message)
		}
		s.writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: s.clean(sc, msg), Problems: probs}, sc)
	case errors.Is(err, blueprints.ErrNotFound):
		s.failScrubbed(w, http.StatusNotFound, msg, sc)
	case errors.Is(err, runner.ErrUnknownTrigger):
		s.failScrubbed(w, http.StatusBadRequest, msg, sc)
	case isVaultError(err):
		s.vaultFail(w, err, sc)
	default:
		s.failScrubbed(w, http.StatusInternalServerError, msg, sc)
	}
}

func isVaultError(err error) bool {
	for _, target := range []error{vault.ErrWrongKey, vault.ErrTampered, vault.ErrNotVault, vault.ErrLocked, vault.ErrNoKey, vault.ErrClosed, vault.ErrReadOnly} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// vaultFail answers a vault that would not open or change: 503 while it
// is locked or has no usable key (an operator can fix that without a
// restart), 500 when it is damaged.
func (s *Server) vaultFail(w http.ResponseWriter, err error, sc *scrub.Scrubber) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, vault.ErrLocked):
		w.Header().Set("Retry-After", "1")
		status = http.StatusServiceUnavailable
	case errors.Is(err, vault.ErrNoKey), errors.Is(err, vault.ErrWrongKey):
		status = http.StatusServiceUnavailable
	case errors.Is(err, vault.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, vault.ErrReadOnly):
		status = http.StatusForbidden // a replica's copy of the vault (bp serve --nats)
	}
	s.failScrubbed(w, status, err.Error(), sc)
}
