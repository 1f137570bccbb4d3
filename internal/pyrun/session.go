//go:build unix

package pyrun

import (
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// worker is an idle process of IsolateRun, waiting on its socket for its
// session's next block.
type worker struct {
	sp    spareProc
	srv   *server // the fork server it came from
	since time.Time
}

// workerIdle is how long an idle worker is kept for a session that was not
// ended (EndSessions): a run whose blocks are far apart pays a fork again,
// a forgotten session does not hold a process for ever.
const workerIdle = time.Minute

// idleWorker takes an idle worker of session forked by srv, if there is
// one.
func (r *Runner) idleWorker(srv *server, session string) (spareProc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireWorkersLocked(time.Now())
	ws := r.workers[session]
	for len(ws) > 0 {
		w := ws[len(ws)-1]
		ws = ws[:len(ws)-1]
		if w.srv == srv && !srv.isDead() {
			r.setWorkersLocked(session, ws)
			return w.sp, true
		}
		unix.Close(w.sp.sock) // from a server that has gone
	}
	r.setWorkersLocked(session, ws)
	return spareProc{}, false
}

// putWorker keeps a worker that ran a block for its session's next.
func (r *Runner) putWorker(srv *server, session string, sp spareProc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.srv != srv {
		unix.Close(sp.sock)
		return
	}
	r.workers[session] = append(r.workers[session], worker{sp: sp, srv: srv, since: time.Now()})
}

// EndSessions lets the processes of the sessions whose names start with
// prefix go (IsolateRun): a run calls it when it ends.
func (r *Runner) EndSessions(prefix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for session := range r.workers {
		if strings.HasPrefix(session, prefix) {
			r.endSessionLocked(session)
		}
	}
}

// endSessionLocked closes the sockets of session's idle workers: each sees
// its socket close and exits. r.mu is held.
func (r *Runner) endSessionLocked(session string) {
	for _, w := range r.workers[session] {
		unix.Close(w.sp.sock)
	}
	delete(r.workers, session)
}

func (r *Runner) expireWorkersLocked(now time.Time) {
	for session, ws := range r.workers {
		kept := ws[:0]
		for _, w := range ws {
			if now.Sub(w.since) > workerIdle {
				unix.Close(w.sp.sock)
			} else {
				kept = append(kept, w)
			}
		}
		r.setWorkersLocked(session, kept)
	}
}

func (r *Runner) setWorkersLocked(session string, ws []worker) {
	if len(ws) == 0 {
		delete(r.workers, session)
	} else {
		r.workers[session] = ws
	}
}
