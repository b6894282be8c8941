package cost

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"
)

// WriteTable prints one line per tenant (and per environment with
// environments), then the shared and idle costs.
func (r Report) WriteTable(w io.Writer, environments bool) error {
	fmt.Fprintf(w, "Cost from %s to %s, in %s, at the prices in force as it accrued.\n\n",
		r.Period.From.UTC().Format(time.RFC3339), r.Period.To.UTC().Format(time.RFC3339), r.currency())
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCPU CORE-H\tCPU USED/REQ\tMEMORY GIB-H\tMEMORY USED/REQ\tSTORAGE GIB-H\tOWN COST\tSHARED\tTOTAL")
	for _, t := range r.Tenants {
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%.2f\t%s\t%.2f\t%s\t%s\t%s\n", t.Tenant, t.CPU.Billed, percent(t.CPU.Utilisation()),
			t.Memory.Billed, percent(t.Memory.Utilisation()), t.StorageGiBHours, money(t.Total-t.Cost["shared"]), money(t.Cost["shared"]), money(t.Total))
		if !environments {
			continue
		}
		for _, e := range t.Environments {
			fmt.Fprintf(tw, "  %s (%s)\t%.2f\t%s\t%.2f\t%s\t%.2f\n", e.Name, e.Namespace, e.CPU.Billed, percent(e.CPU.Utilisation()),
				e.Memory.Billed, percent(e.Memory.Utilisation()), e.StorageGiBHours)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nShared platform cost %s %s, split above in proportion to each tenant's own.\nIdle capacity %s %s, billed to no tenant.\n",
		money(r.Shared), r.currency(), money(r.Idle), r.currency())
	return err
}

// WriteJSON prints the report as JSON.
func (r Report) WriteJSON(w io.Writer) error {
	type usage struct {
		Billed      float64  `json:"billed"`
		Used        float64  `json:"used"`
		Requested   float64  `json:"requested"`
		Utilisation *float64 `json:"utilisation"`
	}
	toUsage := func(u Usage) usage {
		out := usage{Billed: round(u.Billed), Used: round(u.Used), Requested: round(u.Requested)}
		if v := u.Utilisation(); !math.IsNaN(v) {
			out.Utilisation = ptr(round(v))
		}
		return out
	}
	type environment struct {
		Name            string  `json:"name"`
		Namespace       string  `json:"namespace"`
		CPUCoreHours    usage   `json:"cpuCoreHours"`
		MemoryGiBHours  usage   `json:"memoryGiBHours"`
		StorageGiBHours float64 `json:"storageGiBHours"`
	}
	type tenant struct {
		Tenant          string             `json:"tenant"`
		Cost            map[string]float64 `json:"cost"`
		Total           float64            `json:"total"`
		CPUCoreHours    usage              `json:"cpuCoreHours"`
		MemoryGiBHours  usage              `json:"memoryGiBHours"`
		StorageGiBHours float64            `json:"storageGiBHours"`
		Environments    []environment      `json:"environments"`
	}
	out := struct {
		From     time.Time `json:"from"`
		To       time.Time `json:"to"`
		Step     string    `json:"resolution"`
		Currency string    `json:"currency"`
		Tenants  []tenant  `json:"tenants"`
		Shared   float64   `json:"shared"`
		Idle     float64   `json:"idle"`
	}{From: r.Period.From.UTC(), To: r.Period.To.UTC(), Step: r.Period.Step.String(), Currency: r.Currency,
		Tenants: []tenant{}, Shared: round(r.Shared), Idle: round(r.Idle)}
	for _, t := range r.Tenants {
		cost := map[string]float64{}
		for _, c := range Components {
			cost[c] = round(t.Cost[c])
		}
		o := tenant{Tenant: t.Tenant, Cost: cost, Total: round(t.Total), CPUCoreHours: toUsage(t.CPU),
			MemoryGiBHours: toUsage(t.Memory), StorageGiBHours: round(t.StorageGiBHours), Environments: []environment{}}
		for _, e := range t.Environments {
			o.Environments = append(o.Environments, environment{Name: e.Name, Namespace: e.Namespace,
				CPUCoreHours: toUsage(e.CPU), MemoryGiBHours: toUsage(e.Memory), StorageGiBHours: round(e.StorageGiBHours)})
		}
		out.Tenants = append(out.Tenants, o)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// CSVHeader is the first line WriteCSV prints.
var CSVHeader = []string{"from", "to", "currency", "tenant",
	"cpu_core_hours", "cpu_used_core_hours", "cpu_requested_core_hours", "cpu_utilisation",
	"memory_gib_hours", "memory_used_gib_hours", "memory_requested_gib_hours", "memory_utilisation", "storage_gib_hours",
	"cost_cpu", "cost_memory", "cost_storage", "cost_environment", "cost_tenant", "cost_shared", "cost_total"}

// WriteCSV prints one row per tenant, for a spreadsheet.
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(round(v), 'f', -1, 64)
	}
	from, to := r.Period.From.UTC().Format(time.RFC3339), r.Period.To.UTC().Format(time.RFC3339)
	for _, t := range r.Tenants {
		row := []string{from, to, r.Currency, t.Tenant,
			f(t.CPU.Billed), f(t.CPU.Used), f(t.CPU.Requested), f(t.CPU.Utilisation()),
			f(t.Memory.Billed), f(t.Memory.Used), f(t.Memory.Requested), f(t.Memory.Utilisation()), f(t.StorageGiBHours)}
		for _, c := range Components {
			row = append(row, f(t.Cost[c]))
		}
		_ = cw.Write(append(row, f(t.Total)))
	}
	cw.Flush()
	return cw.Error()
}

// WriteMarkdown prints a showback statement per tenant for the period, as
// a finance team reads one: line items with quantity, average unit price
// and amount, then how much of what it reserved the tenant used.
func (r Report) WriteMarkdown(w io.Writer) error {
	cur := r.currency()
	fmt.Fprintf(w, "# Showback %s to %s\n\n", r.Period.From.UTC().Format("2006-01-02 15:04"), r.Period.To.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Amounts in %s, at the prices in force while each cost accrued. Quantities are billed: what a tenant reserved, or used where that was more.\n\n", cur)
	fmt.Fprintf(w, "| Tenant | Own cost | Shared platform | Total |\n| --- | ---: | ---: | ---: |\n")
	var total float64
	for _, t := range r.Tenants {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Tenant, money(t.Total-t.Cost["shared"]), money(t.Cost["shared"]), money(t.Total))
		total += t.Total
	}
	fmt.Fprintf(w, "| **All tenants** | | | **%s** |\n\n", money(total))
	fmt.Fprintf(w, "Shared platform cost (the platform's namespaces and fixed cost) %s, split in proportion to each tenant's own cost. Idle capacity %s, billed to no tenant.\n",
		money(r.Shared), money(r.Idle))
	for _, t := range r.Tenants {
		fmt.Fprintf(w, "\n## %s\n\n| Item | Quantity | Unit | Average price | Amount |\n| --- | ---: | --- | ---: | ---: |\n", t.Tenant)
		for _, item := range []struct {
			name, unit, component string
			quantity              float64
		}{
			{"CPU", "core-hour", "cpu", t.CPU.Billed},
			{"Memory", "GiB-hour", "memory", t.Memory.Billed},
			{"Storage", "GiB-month", "storage", t.StorageGiBHours / HoursPerMonth},
		} {
			fmt.Fprintf(w, "| %s | %.3f | %s | %s | %s |\n", item.name, item.quantity, item.unit, unitPrice(t.Cost[item.component], item.quantity), money(t.Cost[item.component]))
		}
		fmt.Fprintf(w, "| Environment fees | | | | %s |\n| Tenant fee | | | | %s |\n| Shared platform | | | | %s |\n| **Total** | | | | **%s** |\n\n",
			money(t.Cost["environment"]), money(t.Cost["tenant"]), money(t.Cost["shared"]), money(t.Total))
		fmt.Fprintf(w, "Utilisation (used / requested): CPU %s, memory %s.\n", percent(t.CPU.Utilisation()), percent(t.Memory.Utilisation()))
		if len(t.Environments) > 1 {
			fmt.Fprintf(w, "\n| Environment | CPU core-hours | CPU used/requested | Memory GiB-hours | Memory used/requested |\n| --- | ---: | ---: | ---: | ---: |\n")
			for _, e := range t.Environments {
				fmt.Fprintf(w, "| %s | %.3f | %s | %.3f | %s |\n", e.Name, e.CPU.Billed, percent(e.CPU.Utilisation()), e.Memory.Billed, percent(e.Memory.Utilisation()))
			}
		}
	}
	return nil
}

func (r Report) currency() string {
	if r.Currency == "" {
		return "(no PriceList)"
	}
	return r.Currency
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func unitPrice(amount, quantity float64) string {
	if quantity <= 0 {
		return "-"
	}
	return strconv.FormatFloat(amount/quantity, 'f', 4, 64)
}

func percent(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", v*100)
}

// round keeps 6 decimals: finer is the sampling's noise.
func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func ptr[T any](v T) *T { return &v }
