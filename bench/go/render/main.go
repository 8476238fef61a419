// Command render times Go's text/template + sprig on one template and one data document,
// for bench/render.py: the same work our engine does, measured inside one Go process.
//
// Input (stdin, JSON): {"template": "...", "data": {...}, "rounds": N}. Integral JSON numbers
// become int64 (as typed Kubernetes structs give), others float64. Output (stdout, JSON):
// {"ns_per_render": ..., "cpu_ns_per_render": ..., "parse_ns": ..., "output": "..."}
// (wall and CPU time per execution).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"text/template"
	"time"

	"github.com/Masterminds/sprig"
)

type request struct {
	Template string          `json:"template"`
	Data     json.RawMessage `json:"data"`
	Rounds   int             `json:"rounds"`
}

func integral(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = integral(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = integral(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// cpuTime is the process's user+system CPU time (all threads: GC included).
func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

func run() error {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(req.Data))
	decoder.UseNumber()
	var data interface{}
	if err := decoder.Decode(&data); err != nil {
		return err
	}
	data = integral(data)
	start := time.Now()
	tmpl, err := template.New("sidecar").Funcs(sprig.TxtFuncMap()).Parse(req.Template)
	if err != nil {
		return err
	}
	parse := time.Since(start)
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return err
	}
	rounds := req.Rounds
	if rounds < 1 {
		rounds = 1
	}
	cpuBefore := cpuTime()
	start = time.Now()
	for i := 0; i < rounds; i++ {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuBefore
	return json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"ns_per_render":     elapsed.Nanoseconds() / int64(rounds),
		"cpu_ns_per_render": cpu.Nanoseconds() / int64(rounds),
		"parse_ns":          parse.Nanoseconds(),
		"output":            out.String(),
	})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
