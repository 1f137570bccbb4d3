package server

import (
	"errors"
	"net/http"

	"github.com/bprun/bp/blueprints"
	"github.com/bprun/bp/engine"
	"github.com/bprun/bp/runner"
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
// the run's scrubber in the runner; writeJSON masks once more.
func (s *Server) runError(w http.ResponseWriter, err error) {
	var (
		ve *engine.ValidationError
		fe *blueprints.FileError
	)
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, errClosing):
		s.fail(w, http.StatusServiceUnavailable, err.Error())
	case errors.As(err, &ve), errors.As(err, &fe):
		// Problems extracted with errors.As bypass the scrubbed message;
		// writeJSON scrubs the whole answer.
		s.writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: s.clean(nil, err.Error()), Problems: s.problemsOf(err)}, nil)
	case errors.Is(err, blueprints.ErrNotFound):
		s.fail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, runner.ErrUnknownTrigger):
		s.fail(w, http.StatusBadRequest, err.Error())
	case isVaultError(err):
		s.vaultFail(w, err)
	default:
		s.fail(w, http.StatusInternalServerError, err.Error())
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
func (s *Server) vaultFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, vault.ErrLocked):
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, vault.ErrNoKey), errors.Is(err, vault.ErrWrongKey):
		s.fail(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, vault.ErrNotFound):
		s.fail(w, http.StatusNotFound, err.Error())
	default:
		s.fail(w, http.StatusInternalServerError, err.Error())
	}
}
