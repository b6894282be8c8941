package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/tenantry/tenantry/internal/cost"
)

// costFlags are cost's flags.
type costFlags struct {
	prometheus   string
	since, until string
	// sinceSet is whether --since was given (its default is 30d).
	sinceSet     bool
	month        string
	resolution   time.Duration
	output       string
	environments bool
}

func newCostCommand(o *options) *cobra.Command {
	var f costFlags
	cmd := &cobra.Command{
		Use:   "cost [TENANT]",
		Short: "Show what each tenant cost over a period, and how much of what it reserved it used",
		Long: `cost reports each tenant's cost over a period from the platform's recorded cost
rates in Prometheus (docs/cost.md): CPU and memory billed on what the tenant
reserved, or used where that was more; storage; fixed fees; its share of the
shared platform cost; and its utilisation, used over requested. Prices apply
from when they were set: a change never reprices what already accrued.

It needs the PriceList (kubectl get pricelist default) and the platform's
recording rules loaded in the Prometheus that --prometheus names.`,
		Example: `  # Every tenant over the last 30 days, per environment
  tenantry cost --since 30d --environments --prometheus http://prometheus.monitoring:9090

  # November's showback statement, for finance
  tenantry cost --month 2026-11 -o markdown > showback-2026-11.md

  # One tenant, as CSV
  tenantry cost acme --since 7d -o csv`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: o.completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.sinceSet = cmd.Flags().Changed("since")
			period, err := f.period(o.now())
			if err != nil {
				return err
			}
			tenant := ""
			if len(args) == 1 {
				tenant = args[0]
			}
			report, err := queryCost(cmd.Context(), f.prometheus, period, tenant)
			if err != nil {
				return err
			}
			if tenant != "" && len(report.Tenants) == 0 {
				return fmt.Errorf("prometheus has no cost of tenant %s from %s to %s: check the name, that a PriceList exists, and that the platform's recording rules are loaded (docs/cost.md)",
					tenant, period.From.Format(time.RFC3339), period.To.Format(time.RFC3339))
			}
			switch f.output {
			case "", "table":
				return report.WriteTable(o.out, f.environments)
			case "json":
				return report.WriteJSON(o.out)
			case "csv":
				return report.WriteCSV(o.out)
			case "markdown":
				return report.WriteMarkdown(o.out)
			}
			return fmt.Errorf("--output %q: want table, json, csv or markdown", f.output)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&f.prometheus, "prometheus", os.Getenv("TENANTRY_PROMETHEUS"),
		"Prometheus (or a compatible query API) holding the platform's recorded cost (default $TENANTRY_PROMETHEUS).")
	flags.StringVar(&f.since, "since", "30d", "Start of the period: a duration back from --until (30d, 12h, 90m) or a time (RFC 3339).")
	flags.StringVar(&f.until, "until", "", "End of the period: a time (RFC 3339) (default: now).")
	flags.StringVar(&f.month, "month", "", "A calendar month in UTC, YYYY-MM, instead of --since and --until.")
	flags.DurationVar(&f.resolution, "resolution", 0, "How often the cost rates are sampled within the period (default: a thousandth of it, at least 1m).")
	flags.StringVarP(&f.output, "output", "o", "table", "Output format: table, json, csv or markdown (a showback statement per tenant).")
	flags.BoolVar(&f.environments, "environments", false, "In the table, a line per environment under each tenant.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "csv", "markdown"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// period reads the flags into a period ending at now unless told.
func (f costFlags) period(now time.Time) (cost.Period, error) {
	var p cost.Period
	if f.month != "" {
		if f.until != "" || f.sinceSet {
			return p, errors.New("--month is a whole period: leave --since and --until out")
		}
		start, err := time.Parse("2006-01", f.month)
		if err != nil {
			return p, fmt.Errorf("--month %q: want YYYY-MM, such as 2026-11", f.month)
		}
		p.From, p.To = start, start.AddDate(0, 1, 0)
		if p.From.After(now) {
			return p, fmt.Errorf("--month %s has not started yet", f.month)
		}
		p.To = minTime(p.To, now)
	} else {
		p.To = now
		if f.until != "" {
			until, err := time.Parse(time.RFC3339, f.until)
			if err != nil {
				return p, fmt.Errorf("--until %q: want a time such as 2026-11-30T23:59:59Z", f.until)
			}
			p.To = until
		}
		from, err := sinceTime(f.since, p.To)
		if err != nil {
			return p, err
		}
		p.From = from
	}
	p.Step = f.resolution
	if p.Step == 0 {
		p.Step = cost.DefaultStep(p.From, p.To)
	}
	return p, p.Validate()
}

// sinceTime reads --since: a time, or a duration back from until, in
// Prometheus's units (d and w too).
func sinceTime(since string, until time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, since); err == nil {
		return t, nil
	}
	d, err := model.ParseDuration(since)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--since %q: want a duration such as 30d, 12h or 90m, or a time such as 2026-11-01T00:00:00Z", since)
	}
	return until.Add(-time.Duration(d)), nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// queryCost asks Prometheus every query of the report, at once.
func queryCost(ctx context.Context, address string, p cost.Period, tenant string) (cost.Report, error) {
	if address == "" {
		return cost.Report{}, errors.New("cost reads Prometheus: pass --prometheus URL (or set TENANTRY_PROMETHEUS), e.g. http://prometheus.monitoring:9090")
	}
	c, err := promapi.NewClient(promapi.Config{Address: address})
	if err != nil {
		return cost.Report{}, fmt.Errorf("--prometheus %q: %w", address, err)
	}
	api := promv1.NewAPI(c)
	queries := cost.Queries(p, tenant)
	answers := map[string][]cost.Sample{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 0, len(queries))
	for name, q := range queries {
		wg.Go(func() {
			value, _, _, err := api.Query(ctx, q, p.To)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("prometheus at %s: %s: %w", address, q, err))
				return
			}
			vector, ok := value.(model.Vector)
			if !ok {
				errs = append(errs, fmt.Errorf("prometheus at %s answered %s with a %s, want a vector", address, q, value.Type()))
				return
			}
			for _, s := range vector {
				labels := map[string]string{}
				for k, v := range s.Metric {
					labels[string(k)] = string(v)
				}
				answers[name] = append(answers[name], cost.Sample{Labels: labels, Value: float64(s.Value)})
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return cost.Report{}, err
	}
	return cost.Build(p, answers), nil
}
