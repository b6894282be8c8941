package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantry/tenantry/api/v1alpha1"
	"github.com/tenantry/tenantry/internal/gitops"
)

// change is one edit of a Tenant, made through Git or on the cluster.
type change struct {
	verb    string // the command, for the commit message (set by changeCommand)
	tenant  string // set by changeCommand
	subject string // what changes, the commit subject
	// create is the new Tenant (create only); delete removes it; otherwise
	// edit changes it in place.
	create *v1alpha1.Tenant
	delete bool
	edit   func(*v1alpha1.Tenant) error
	// applied tells whether a Tenant has the change, where making the edit
	// again is no test (an edit that refuses to remove what is not there).
	applied func(*v1alpha1.Tenant) bool
	// goal is what --wait waits for once the cluster has the change.
	goal goal
	// to is the cluster a move goes to (goalMoved).
	to string
}

// changeFlags are the flags of every command that changes a Tenant.
type changeFlags struct {
	reason     string
	allowDirty bool
	push       bool
	remote     string
	apply      bool
	wait       bool
	timeout    time.Duration
}

func (f *changeFlags) register(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.StringVar(&f.reason, "reason", "", "Why: written into the commit message (with --gitops), shown by tenantry audit.")
	flags.BoolVar(&f.allowDirty, "allow-dirty", false, "Commit although the working copy has other uncommitted changes (only the tenant file is committed).")
	flags.BoolVar(&f.push, "push", false, "Push the commit (with --gitops).")
	flags.StringVar(&f.remote, "remote", "origin", "Remote to push to.")
	flags.BoolVar(&f.apply, "apply", false, "Also apply the committed file to the cluster, where no GitOps controller syncs the folder yet (with --gitops).")
	flags.BoolVar(&f.wait, "wait", false, "Wait until the cluster has the change and the Tenant is Ready (or suspended, or gone), showing progress.")
	flags.DurationVar(&f.timeout, "timeout", 2*time.Minute, "How long --wait waits.")
}

// run makes the change in Git (with --gitops) or on the cluster, then
// waits for it if asked.
func (o *options) run(ctx context.Context, f *changeFlags, ch change) error {
	if o.gitopsDir == "" {
		for flag, set := range map[string]bool{"--push": f.push, "--apply": f.apply, "--allow-dirty": f.allowDirty} {
			if set {
				return fmt.Errorf("%s only makes sense with --gitops DIR", flag)
			}
		}
	}
	if o.gitopsDir != "" {
		changed, err := o.commit(ctx, f, ch)
		if err != nil || !changed {
			return err
		}
	} else {
		c, err := o.kube(ctx)
		if err != nil {
			return err
		}
		changed, err := applyChange(ctx, c, ch)
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(o.out, "tenant %s: nothing to change\n", ch.tenant)
			return nil
		}
		fmt.Fprintf(o.out, "tenant %s: %s\n", ch.tenant, ch.subject)
	}
	if !f.wait {
		return nil
	}
	c, err := o.kube(ctx)
	if err != nil {
		return err
	}
	return o.waitFor(ctx, c, ch, f.timeout)
}

// commit writes the change to tenants/NAME.yaml and commits it; false
// means there was nothing to change.
func (o *options) commit(ctx context.Context, f *changeFlags, ch change) (bool, error) {
	repo, err := gitops.Open(o.gitopsDir)
	if err != nil {
		return false, err
	}
	if !f.allowDirty {
		dirty, err := repo.Dirty()
		if err != nil {
			return false, err
		}
		if len(dirty) > 0 {
			return false, fmt.Errorf("--gitops %s: the working copy has uncommitted changes (%s); commit or stash them, or pass --allow-dirty",
				o.gitopsDir, strings.Join(firstN(dirty, 5), ", "))
		}
	}
	old, err := repo.ReadTenant(ch.tenant)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	file := relTo(repo.Dir(), repo.TenantPath(ch.tenant))
	var data []byte
	switch {
	case ch.create != nil:
		if exists {
			return false, fmt.Errorf("tenant %s exists already in %s; change it with set-plan, add-env, remove-env, suspend or resume", ch.tenant, file)
		}
		if data, err = gitops.MarshalTenant(ch.create, ""); err != nil {
			return false, err
		}
	case !exists:
		return false, fmt.Errorf("no tenant %s in %s (%s does not exist); create it with tenantry create", ch.tenant, o.gitopsDir, file)
	case ch.delete:
		data = nil
	default:
		if data, err = gitops.EditTenant(old, ch.edit); err != nil {
			return false, fmt.Errorf("%s: %w", file, err)
		}
		if string(data) == string(old) {
			fmt.Fprintf(o.out, "tenant %s: nothing to change in %s; no commit\n", ch.tenant, file)
			return false, nil
		}
	}
	hash, err := repo.CommitTenant(ch.tenant, data, commitMessage(ch, f.reason))
	if err != nil {
		return false, err
	}
	fmt.Fprintf(o.out, "committed %s %s: %s\n", gitops.ShortHash(hash), file, ch.subject)
	if f.push {
		if err := repo.Push(ctx, f.remote); err != nil {
			return false, err
		}
		fmt.Fprintf(o.out, "pushed to %s\n", f.remote)
	}
	if f.apply {
		c, err := o.kube(ctx)
		if err != nil {
			return false, fmt.Errorf("committed, but not applied: %w", err)
		}
		if err := applyFile(ctx, c, ch.tenant, data); err != nil {
			return false, fmt.Errorf("committed, but not applied: %w", err)
		}
		fmt.Fprintf(o.out, "applied %s to the cluster\n", file)
	}
	return true, nil
}

func commitMessage(ch change, reason string) string {
	msg := ch.subject + "\n\n"
	if reason != "" {
		msg += "Reason: " + reason + "\n\n"
	}
	return msg + "Made with `tenantry " + ch.verb + "`.\n"
}

// applyChange makes the change on the cluster; false means the Tenant was
// already as asked.
func applyChange(ctx context.Context, c client.Client, ch change) (bool, error) {
	switch {
	case ch.create != nil:
		err := c.Create(ctx, ch.create, client.FieldOwner(FieldOwner))
		if apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("tenant %s exists already; change it with set-plan, add-env, remove-env, suspend or resume", ch.tenant)
		}
		return err == nil, err
	case ch.delete:
		err := c.Delete(ctx, &v1alpha1.Tenant{ObjectMeta: objectMeta(ch.tenant)})
		if apierrors.IsNotFound(err) {
			return false, fmt.Errorf("no tenant %s (tenantry list shows them)", ch.tenant)
		}
		return err == nil, err
	}
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t := &v1alpha1.Tenant{}
		if err := c.Get(ctx, client.ObjectKey{Name: ch.tenant}, t); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("no tenant %s (tenantry list shows them)", ch.tenant)
			}
			return err
		}
		before := t.DeepCopy()
		if err := ch.edit(t); err != nil {
			return err
		}
		if changed = !equality.Semantic.DeepEqual(before, t); !changed {
			return nil
		}
		return c.Update(ctx, t, client.FieldOwner(FieldOwner))
	})
	return changed, err
}

// applyFile makes the cluster's Tenant what a committed file says (nil
// data: deleted), as a GitOps controller would.
func applyFile(ctx context.Context, c client.Client, name string, data []byte) error {
	if data == nil {
		return client.IgnoreNotFound(c.Delete(ctx, &v1alpha1.Tenant{ObjectMeta: objectMeta(name)}))
	}
	want, err := gitops.UnmarshalTenant(data)
	if err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t := &v1alpha1.Tenant{}
		err := c.Get(ctx, client.ObjectKey{Name: name}, t)
		if apierrors.IsNotFound(err) {
			return c.Create(ctx, want, client.FieldOwner(FieldOwner))
		}
		if err != nil {
			return err
		}
		t.Spec, t.Labels, t.Annotations = want.Spec, want.Labels, want.Annotations
		return c.Update(ctx, t, client.FieldOwner(FieldOwner))
	})
}

// knownPlan refuses a plan no TenantPlan defines, listing those there are:
// from the GitOps folder's plans/ when it has one, else from the cluster.
func (o *options) knownPlan(ctx context.Context, plan string) error {
	var names []string
	source := "the cluster"
	if o.gitopsDir != "" {
		repo, err := gitops.Open(o.gitopsDir)
		if err != nil {
			return err
		}
		if names, err = repo.PlanNames(); err != nil {
			return err
		}
		source = filepath.Join(o.gitopsDir, "plans")
	}
	if len(names) == 0 {
		c, err := o.kube(ctx)
		if err != nil {
			if o.gitopsDir != "" {
				return nil // no plans in Git and no cluster to ask: the operator will say
			}
			return err
		}
		plans := &v1alpha1.TenantPlanList{}
		if err := c.List(ctx, plans); err != nil {
			return err
		}
		for _, p := range plans.Items {
			names = append(names, p.Name)
		}
		source = "the cluster"
	}
	if slices.Contains(names, plan) {
		return nil
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("unknown plan %q: %s has no TenantPlans yet (create one first: gitops/plans/ has examples)", plan, source)
	}
	return fmt.Errorf("unknown plan %q; the plans in %s are: %s", plan, source, strings.Join(names, ", "))
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}

// relTo is path relative to dir's parent, so messages show the folder the
// user named (e.g. platform/tenants/acme.yaml).
func relTo(dir, path string) string {
	rel, err := filepath.Rel(filepath.Dir(dir), path)
	if err != nil {
		return path
	}
	return rel
}
