package demoapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

const getUsage = `Usage: demo-app get [--timeout 30s] URL

Sends GET URL until it is answered 200 or the timeout passes, then prints the
body. Run in a pod, it shows what that pod can reach through Services and
cluster DNS, with the app's own image:

  kubectl run probe --rm -it --restart=Never --image=IMAGE -- get http://web/

Flags:
`

// Get is `demo-app get`: a client in the app's own image (which has no
// shell or curl), so a pod can probe another through its Service. It
// retries until the URL answers 200 (DNS and endpoints take a moment to
// follow a new pod) and returns the process exit code: 0 when answered, 1
// when not, 2 on bad arguments.
func Get(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-app get", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 30*time.Second, "How long to keep trying, a Go duration.")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, getUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "demo-app get: want one URL and optional --timeout (see get --help)")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		body, err := getOnce(ctx, client, fs.Arg(0))
		if err == nil {
			fmt.Fprintln(stdout, body)
			return 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "demo-app get %s: %v\n", fs.Arg(0), err)
			return 1
		case <-tick.C:
		}
	}
}

func getOnce(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	return string(body), nil
}
