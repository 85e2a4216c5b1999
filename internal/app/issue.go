package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/run"
	"github.com/jinjiang/residents/internal/voucher"
)

// IssueCommand is `residents issue`: an operator issues a program's
// period from the command line, as a staff user (audited as them, allowed
// by the policy like issueVouchers).
type IssueCommand struct {
	Operator      string
	ProgramCode   string
	Period        string
	AllowBackfill bool
	// Terminal draws a progress bar in place; otherwise a plain line per
	// progress step.
	Terminal bool
}

// Issue starts the period's run (or joins the one running), drives it in
// this process whenever no other instance holds it, and shows its progress
// until it ends. A failed run is an error.
func (a *App) Issue(ctx context.Context, out io.Writer, c IssueCommand) error {
	v, err := a.Auth.OperatorViewer(ctx, c.Operator)
	if err != nil {
		return err
	}
	ctx = auth.WithRequestID(auth.WithViewer(ctx, v), "cli-"+uuid.NewString())
	p, err := a.Vouchers.ProgramByCode(ctx, c.ProgramCode)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("no voucher program %q", c.ProgramCode)
	}
	r, started, err := a.Vouchers.StartIssuance(ctx, voucher.IssueInput{ProgramID: p.ID, Period: c.Period, AllowBackfill: c.AllowBackfill})
	if err != nil {
		if ues, ok := problem.AsUserErrors(err); ok {
			return fmt.Errorf("%s: %s", ues[0].Code, ues[0].Message)
		}
		return err
	}
	if started {
		fmt.Fprintf(out, "started issuance run %s: %s %s\n", r.ID, p.Code, r.Period)
	} else {
		fmt.Fprintf(out, "joined issuance run %s: %s %s (started %s)\n", r.ID, p.Code, r.Period, r.StartedAt.Format(time.RFC3339))
	}
	bar := progress{out: out, terminal: c.Terminal, start: time.Now()}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if !a.Runs.Driving(r.ID) {
			// Ours to drive when we started it, or when whoever drove it
			// is gone (its lease lapsed).
			mine := started
			if !mine {
				if mine, err = a.Runs.ClaimRun(ctx, r.ID); err != nil {
					return err
				}
			}
			started = false
			if mine {
				go a.Runs.Drive(ctx, r.ID)
			}
		}
		got, err := run.Get(ctx, a.DB, r.ID)
		if err != nil {
			return err
		}
		bar.show(got)
		if got.Finished() {
			bar.done(got)
			if got.Status == run.Failed {
				return fmt.Errorf("the run failed: %s%s", deref(got.ErrorCode), ": "+deref(got.Error))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted: the run goes on where it stopped when an instance (or this command again) claims it")
		case <-tick.C:
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// progress draws a run's progress: a bar redrawn in place on a terminal,
// else one plain line each time it moved (at most one every 2 s).
type progress struct {
	out      io.Writer
	terminal bool
	start    time.Time
	lastDone int64
	lastAt   time.Time
}

func (p *progress) line(r *run.Run) string {
	total := r.TotalOrZero()
	pct := 0.0
	if total > 0 {
		pct = float64(r.Done) / float64(total)
	} else if r.Planned() {
		pct = 1
	}
	return fmt.Sprintf("%5.1f%% %d/%d residents, %d issued (%.2f 元), %d held one already, %s",
		pct*100, r.Done, total, r.Count, float64(r.Fen)/100, r.Skipped, time.Since(p.start).Round(100*time.Millisecond))
}

func (p *progress) show(r *run.Run) {
	if p.terminal {
		total := r.TotalOrZero()
		const width = 30
		filled := 0
		if total > 0 {
			filled = int(float64(width) * float64(r.Done) / float64(total))
		}
		fmt.Fprintf(p.out, "\r[%s%s] %s\x1b[K", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.line(r))
		return
	}
	if r.Done != p.lastDone && time.Since(p.lastAt) >= 2*time.Second {
		p.lastDone, p.lastAt = r.Done, time.Now()
		fmt.Fprintln(p.out, p.line(r))
	}
}

func (p *progress) done(r *run.Run) {
	if p.terminal {
		fmt.Fprintln(p.out)
	}
	fmt.Fprintf(p.out, "%s: %s\n", r.Status, p.line(r))
}
