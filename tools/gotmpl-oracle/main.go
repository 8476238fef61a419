// Command gotmpl-oracle answers template requests with Go's own text/template (and sprig, as
// Istio registers it), so the differential tests compare our engine with the real thing.
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on stdout, in order and
// flushed after each reply, so a test session keeps one process open. Blank lines are skipped;
// a line that is not a valid request gets an error reply with phase "request" and the process
// goes on. Lines may be of any length.
//
// Request: {"template": text (required), "data": any JSON, "left"/"right": delimiters,
// "sprig": bool, "name": a defined template to execute, "options": ["missingkey=error", ...],
// "numbers": "float64" (default, as encoding/json decodes into interface{}) | "int" (numbers
// written as integers that fit become int64, as typed Kubernetes structs give; 1.0 and 1e3 stay
// float64) | "number" (json.Number)}.
//
// Reply: {"output": text} or {"error": text, "phase": "request"|"parse"|"exec"}, where an exec
// error also carries "partial", what was written before it. encoding/json writes invalid UTF-8
// in output as U+FFFD, so every reply is valid JSON.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/template"

	"github.com/Masterminds/sprig"
)

// templateName is the name every request's template is parsed under; our harness uses the
// same one, so error texts that quote it compare equal.
const templateName = "oracle"

type request struct {
	Template *string        `json:"template"`
	Data     json.RawMessage `json:"data"`
	Left     string          `json:"left"`
	Right    string          `json:"right"`
	Sprig    bool            `json:"sprig"`
	Name     string          `json:"name"`
	Options  []string        `json:"options"`
	Numbers  string          `json:"numbers"`
}

type reply struct {
	Output  *string `json:"output,omitempty"`
	Error   string  `json:"error,omitempty"`
	Phase   string  `json:"phase,omitempty"`
	Partial *string `json:"partial,omitempty"`
}

func failure(phase string, err error) reply {
	return reply{Error: err.Error(), Phase: phase}
}

// numbers converts the json.Number leaves of decoded data to the Go type the mode asks for.
func numbers(value interface{}, mode string) (interface{}, error) {
	switch v := value.(type) {
	case map[string]interface{}:
		for key, item := range v {
			converted, err := numbers(item, mode)
			if err != nil {
				return nil, err
			}
			v[key] = converted
		}
	case []interface{}:
		for i, item := range v {
			converted, err := numbers(item, mode)
			if err != nil {
				return nil, err
			}
			v[i] = converted
		}
	case json.Number:
		return number(v, mode)
	}
	return value, nil
}

func number(n json.Number, mode string) (interface{}, error) {
	if mode == "number" {
		return n, nil
	}
	if mode == "int" {
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
	}
	f, err := n.Float64()
	if err != nil {
		return nil, fmt.Errorf("number %s does not fit a float64", n)
	}
	return f, nil
}

func decodeData(raw json.RawMessage, mode string) (interface{}, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var data interface{}
	if err := decoder.Decode(&data); err != nil {
		return nil, err
	}
	return numbers(data, mode)
}

// withOptions applies template.Option, which panics on an option it does not know.
func withOptions(t *template.Template, options []string) (out *template.Template, err error) {
	defer func() {
		if caught := recover(); caught != nil {
			err = fmt.Errorf("bad option: %v", caught)
		}
	}()
	return t.Option(options...), nil
}

func execute(t *template.Template, name string, data interface{}, out *bytes.Buffer) (err error) {
	// text/template turns panics in called functions into errors, but re-raises runtime
	// errors of its own; one request must never end the process.
	defer func() {
		if caught := recover(); caught != nil {
			err = fmt.Errorf("panic: %v", caught)
		}
	}()
	if name != "" {
		return t.ExecuteTemplate(out, name, data)
	}
	return t.Execute(out, data)
}

func answer(line []byte) reply {
	var req request
	decoder := json.NewDecoder(bytes.NewReader(line))
	if err := decoder.Decode(&req); err != nil {
		return failure("request", fmt.Errorf("not a JSON request: %v", err))
	}
	if req.Template == nil {
		return failure("request", errors.New(`"template" is required`))
	}
	mode := req.Numbers
	if mode == "" {
		mode = "float64"
	}
	if mode != "float64" && mode != "int" && mode != "number" {
		return failure("request", fmt.Errorf(`"numbers" must be float64, int or number, not %q`, mode))
	}
	data, err := decodeData(req.Data, mode)
	if err != nil {
		return failure("request", fmt.Errorf("data: %v", err))
	}
	t := template.New(templateName).Delims(req.Left, req.Right)
	if t, err = withOptions(t, req.Options); err != nil {
		return failure("request", err)
	}
	if req.Sprig {
		t = t.Funcs(sprig.TxtFuncMap())
	}
	if _, err := t.Parse(*req.Template); err != nil {
		return failure("parse", err)
	}
	var out bytes.Buffer
	if err := execute(t, req.Name, data, &out); err != nil {
		partial := out.String()
		return reply{Error: err.Error(), Phase: "exec", Partial: &partial}
	}
	output := out.String()
	return reply{Output: &output}
}

func serve(in io.Reader, out io.Writer) error {
	reader := bufio.NewReader(in)
	writer := bufio.NewWriter(out)
	encoder := json.NewEncoder(writer)
	encoder.SetEscapeHTML(false)
	for {
		line, readErr := reader.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if err := encoder.Encode(answer(line)); err != nil {
				return err
			}
			if err := writer.Flush(); err != nil {
				return err
			}
		}
		if readErr == io.EOF {
			return nil
		}
		if readErr != nil {
			return readErr
		}
	}
}

func main() {
	if err := serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gotmpl-oracle:", err)
		os.Exit(1)
	}
}
