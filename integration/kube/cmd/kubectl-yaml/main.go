// Command kubectl-yaml reads manifests exactly as `kubectl apply -f FILE` does and prints the
// objects kubectl would send, for the gate's parser differential (integration/parser_differential.rs).
//
// Input: JSON lines on stdin, {"id": N, "text_b64": "..."}: one manifest file each.
// Output: one JSON line per input on stdout, in order:
//
//	{"id": N, "objects": [...], "error": "..." | null}
//
// Each input is written to a temporary file and read by k8s.io/cli-runtime's resource builder
// the way kubectl apply configures it (Unstructured, ContinueOnError, FilenameParam, Flatten),
// locally (no server): the FileVisitor's UTF-8/BOM decoding, the YAMLOrJSONDecoder's document
// split, sigs.k8s.io/yaml's YAMLToJSON per document, the unstructured JSON decoding and the
// expansion of List items. kubectl apply applies the objects read before an error, so both are
// printed: `objects` holds what was read, `error` what stopped or failed the read.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/cli-runtime/pkg/resource"
)

type input struct {
	ID      int64  `json:"id"`
	TextB64 string `json:"text_b64"`
}

type output struct {
	ID      int64             `json:"id"`
	Objects []json.RawMessage `json:"objects"`
	Error   *string           `json:"error"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kubectl-yaml:", err)
		os.Exit(2)
	}
}

func run(in io.Reader, out io.Writer) error {
	dir, err := os.MkdirTemp("", "kubectl-yaml-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "manifest.yaml")

	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	writer := bufio.NewWriter(out)
	defer writer.Flush()
	encoder := json.NewEncoder(writer)
	encoder.SetEscapeHTML(false)
	for scanner.Scan() {
		var item input
		if err := json.Unmarshal(scanner.Bytes(), &item); err != nil {
			return fmt.Errorf("bad input line: %w", err)
		}
		text, err := base64.StdEncoding.DecodeString(item.TextB64)
		if err != nil {
			return fmt.Errorf("input %d: bad base64: %w", item.ID, err)
		}
		if err := os.WriteFile(path, text, 0o600); err != nil {
			return err
		}
		result := read(path)
		result.ID = item.ID
		if err := encoder.Encode(result); err != nil {
			return err
		}
		// The caller may wait for each answer: flush per line.
		if err := writer.Flush(); err != nil {
			return err
		}
	}
	return scanner.Err()
}

// read reads one file as `kubectl apply -f path` does, without a server.
func read(path string) (result output) {
	result.Objects = []json.RawMessage{}
	defer func() {
		// A panic in a parser is an answer too: the consumer would crash, not deploy.
		if r := recover(); r != nil {
			message := fmt.Sprintf("panic: %v", r)
			result.Error = &message
		}
	}()
	r := resource.NewLocalBuilder().
		Unstructured().
		ContinueOnError().
		FilenameParam(false, &resource.FilenameOptions{Filenames: []string{path}}).
		Flatten().
		Do()
	infos, err := r.Infos()
	for _, info := range infos {
		if info.Object == nil {
			continue
		}
		raw, merr := json.Marshal(info.Object)
		if merr != nil {
			message := fmt.Sprintf("encoding an object: %v", merr)
			result.Error = &message
			return result
		}
		result.Objects = append(result.Objects, raw)
	}
	if err != nil {
		message := err.Error()
		result.Error = &message
	}
	return result
}
