// Command vap-diff asks a live API server (the rig) for its admission verdicts on a corpus of
// objects, for the policy differential (integration/vap_differential.rs):
//
//	vap-diff --kubeconfig K --audit-log A --setup SETUP.yaml --canaries C.jsonl --objects O.jsonl
//
// It applies SETUP.yaml's documents in order with server-side apply (CustomResourceDefinitions are
// waited for until Established; admissionregistration.k8s.io/v1beta1 MutatingAdmissionPolicies
// and their bindings are applied as v1, the version the rig serves), then dry-run creates each
// canary object until the API server's answer contains its `expect` text (the policy informers
// have caught up), then dry-run creates every object of O.jsonl concurrently. For each object it
// prints one JSON line, in input order: whether it was admitted, the status code, reason and
// message of a refusal, the warnings, the audit annotations of its audit event (by the request's
// Audit-Id) and the object the API server returned (what it would store).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// requestKey carries the index of an object through a request's context to the transport that
// records its response headers.
type requestKey struct{}

// headers are the response headers of interest of one request.
type headers struct {
	auditID  string
	warnings []string
}

// recorder is a transport wrapper that keeps the Audit-Id and Warning headers of every response
// whose request carries a requestKey.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[int]headers
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if index, ok := req.Context().Value(requestKey{}).(int); ok {
		parsed, _ := utilnet.ParseWarningHeaders(resp.Header.Values("Warning"))
		h := headers{auditID: resp.Header.Get("Audit-Id")}
		for _, w := range parsed {
			h.warnings = append(h.warnings, w.Text)
		}
		r.mu.Lock()
		r.seen[index] = h
		r.mu.Unlock()
	}
	return resp, nil
}

// canary is an object whose dry-run create must be answered with a message containing expect.
type canary struct {
	Object map[string]any `json:"object"`
	Expect string         `json:"expect"`
}

// verdict is what the API server said of one object.
type verdict struct {
	Name             string            `json:"name"`
	Namespace        string            `json:"namespace"`
	Allowed          bool              `json:"allowed"`
	Code             int32             `json:"code,omitempty"`
	Reason           string            `json:"reason,omitempty"`
	Message          string            `json:"message,omitempty"`
	Warnings         []string          `json:"warnings"`
	AuditAnnotations map[string]string `json:"auditAnnotations"`
	Object           map[string]any    `json:"object,omitempty"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the rig's kubeconfig")
	auditLog := flag.String("audit-log", "", "the rig's audit log")
	setup := flag.String("setup", "", "YAML documents to apply first, in order")
	canaries := flag.String("canaries", "", "JSON lines {object, expect}")
	objects := flag.String("objects", "", "JSON lines, one object each")
	workers := flag.Int("workers", 8, "concurrent requests")
	scopeLabel := flag.String("scope-label", "", "add `KEY` Exists to every binding's namespaceSelector (so the setup judges only its own namespaces on a shared API server)")
	auditDenials := flag.Bool("audit-denials", false, "add Audit to every validating binding whose only action is Deny (the audit event then lists every denial, not only the first the status reports)")
	writeSetup := flag.String("write-setup", "", "write the setup as applied (JSON documents separated by ---) to this file, for cmek-gate to load the same objects")
	flag.Parse()
	if *kubeconfig == "" || *auditLog == "" || *setup == "" || *objects == "" {
		fmt.Fprintln(os.Stderr, "vap-diff: --kubeconfig, --audit-log, --setup and --objects are required")
		os.Exit(2)
	}
	options := setupOptions{scopeLabel: *scopeLabel, auditDenials: *auditDenials, writeSetup: *writeSetup}
	if err := run(*kubeconfig, *auditLog, *setup, *canaries, *objects, *workers, options); err != nil {
		fmt.Fprintf(os.Stderr, "vap-diff: %v\n", err)
		os.Exit(1)
	}
}

// setupOptions say how the setup documents are changed before they are applied.
type setupOptions struct {
	scopeLabel   string
	auditDenials bool
	writeSetup   string
}

func run(kubeconfig, auditLog, setupPath, canaryPath, objectsPath string, workers int, options setupOptions) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	config.QPS = 500
	config.Burst = 1000
	config.WarningHandler = rest.NoWarnings{}
	rec := &recorder{seen: map[int]headers{}}
	config.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		rec.next = rt
		return rec
	})
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	ctx := context.Background()

	documents, err := readDocuments(setupPath)
	if err != nil {
		return err
	}
	var written bytes.Buffer
	for _, object := range documents {
		servedVersion(object)
		if err := adjustBinding(object, options); err != nil {
			return err
		}
		text, err := json.Marshal(object.Object)
		if err != nil {
			return err
		}
		written.WriteString("---\n")
		written.Write(text)
		written.WriteString("\n")
	}
	if options.writeSetup != "" {
		if err := os.WriteFile(options.writeSetup, written.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if err := apply(ctx, client, mapper, documents); err != nil {
		return err
	}
	if canaryPath != "" {
		var probes []canary
		if err := readLines(canaryPath, func(line []byte) error {
			var c canary
			if err := json.Unmarshal(line, &c); err != nil {
				return err
			}
			probes = append(probes, c)
			return nil
		}); err != nil {
			return err
		}
		if err := waitForCanaries(ctx, client, mapper, rec, probes); err != nil {
			return err
		}
	}

	var corpus []*unstructured.Unstructured
	if err := readLines(objectsPath, func(line []byte) error {
		var object map[string]any
		if err := json.Unmarshal(line, &object); err != nil {
			return err
		}
		corpus = append(corpus, &unstructured.Unstructured{Object: object})
		return nil
	}); err != nil {
		return err
	}
	verdicts := make([]verdict, len(corpus))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed error
	var failedOnce sync.Once
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				v, err := dryRunCreate(context.WithValue(ctx, requestKey{}, i), client, mapper, corpus[i])
				if err != nil {
					failedOnce.Do(func() { failed = fmt.Errorf("object %d (%s): %w", i, corpus[i].GetName(), err) })
				}
				verdicts[i] = v
			}
		}()
	}
	for i := range corpus {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if failed != nil {
		return failed
	}

	ids := map[string]int{}
	for i := range verdicts {
		h := rec.seen[i]
		if h.auditID == "" {
			return fmt.Errorf("object %d (%s): the response had no Audit-Id header", i, corpus[i].GetName())
		}
		ids[h.auditID] = i
		verdicts[i].Warnings = append([]string{}, h.warnings...)
	}
	annotations, err := auditAnnotations(auditLog, ids)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for i := range verdicts {
		verdicts[i].AuditAnnotations = annotations[i]
		if err := encoder.Encode(verdicts[i]); err != nil {
			return err
		}
	}
	return out.Flush()
}

// readDocuments reads every YAML (or JSON) document of a file, skipping empty ones.
func readDocuments(path string) ([]*unstructured.Unstructured, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	decoder := utilyaml.NewYAMLOrJSONDecoder(file, 4096)
	var documents []*unstructured.Unstructured
	for {
		var object map[string]any
		err := decoder.Decode(&object)
		if errors.Is(err, io.EOF) {
			return documents, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", path, len(documents), err)
		}
		if len(object) == 0 {
			continue
		}
		documents = append(documents, &unstructured.Unstructured{Object: object})
	}
}

// readLines calls each for every non-empty line of a file.
func readLines(path string, each func([]byte) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for scanner.Scan() {
		n++
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := each(line); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return scanner.Err()
}

// servedVersion rewrites the admission policy versions the rig does not serve to v1.
func servedVersion(object *unstructured.Unstructured) {
	if object.GetAPIVersion() == "admissionregistration.k8s.io/v1beta1" ||
		object.GetAPIVersion() == "admissionregistration.k8s.io/v1alpha1" {
		object.SetAPIVersion("admissionregistration.k8s.io/v1")
	}
}

// adjustBinding scopes a binding to the namespaces with the scope label and, with auditDenials,
// adds Audit to a validating binding whose only action is Deny.
func adjustBinding(object *unstructured.Unstructured, options setupOptions) error {
	kind := object.GetKind()
	if kind != "ValidatingAdmissionPolicyBinding" && kind != "MutatingAdmissionPolicyBinding" {
		return nil
	}
	if options.scopeLabel != "" {
		expressions, _, err := unstructured.NestedSlice(object.Object, "spec", "matchResources", "namespaceSelector", "matchExpressions")
		if err != nil {
			return fmt.Errorf("binding %s: %w", object.GetName(), err)
		}
		expressions = append(expressions, map[string]any{"key": options.scopeLabel, "operator": "Exists"})
		if err := unstructured.SetNestedSlice(object.Object, expressions, "spec", "matchResources", "namespaceSelector", "matchExpressions"); err != nil {
			return fmt.Errorf("binding %s: %w", object.GetName(), err)
		}
	}
	if options.auditDenials && kind == "ValidatingAdmissionPolicyBinding" {
		actions, _, _ := unstructured.NestedStringSlice(object.Object, "spec", "validationActions")
		if len(actions) == 1 && actions[0] == "Deny" {
			if err := unstructured.SetNestedStringSlice(object.Object, []string{"Deny", "Audit"}, "spec", "validationActions"); err != nil {
				return err
			}
		}
	}
	return nil
}

// resourceFor maps an object to its resource, and says whether that resource is namespaced.
func resourceFor(mapper *restmapper.DeferredDiscoveryRESTMapper, object *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := object.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		mapper.Reset()
		mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return mapping, err
}

func resourceClient(client *dynamic.DynamicClient, mapping *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return client.Resource(mapping.Resource).Namespace(namespace)
	}
	return client.Resource(mapping.Resource)
}

// apply applies the documents in order with server-side apply; a CustomResourceDefinition is
// waited for until it is Established.
func apply(ctx context.Context, client *dynamic.DynamicClient, mapper *restmapper.DeferredDiscoveryRESTMapper, documents []*unstructured.Unstructured) error {
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for i, object := range documents {
		mapping, err := resourceFor(mapper, object)
		if err != nil {
			return fmt.Errorf("setup document %d (%s %s): %w", i, object.GetKind(), object.GetName(), err)
		}
		resource := resourceClient(client, mapping, object.GetNamespace())
		force := true
		if _, err := resource.Apply(ctx, object.GetName(), object, metav1.ApplyOptions{FieldManager: "vap-diff", Force: force}); err != nil {
			return fmt.Errorf("applying setup document %d (%s %s): %w", i, object.GetKind(), object.GetName(), err)
		}
		if mapping.Resource == crds {
			if err := waitEstablished(ctx, client, object.GetName()); err != nil {
				return err
			}
			mapper.Reset()
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, client *dynamic.DynamicClient, name string) error {
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		crd, err := client.Resource(crds).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conditions {
				condition, _ := c.(map[string]any)
				if condition["type"] == "Established" && condition["status"] == "True" {
					return nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("CustomResourceDefinition %s was not Established within 90 s", name)
}

// waitForCanaries dry-run creates each canary until the answer contains its expect text.
func waitForCanaries(ctx context.Context, client *dynamic.DynamicClient, mapper *restmapper.DeferredDiscoveryRESTMapper, rec *recorder, probes []canary) error {
	deadline := time.Now().Add(120 * time.Second)
	for _, probe := range probes {
		object := &unstructured.Unstructured{Object: probe.Object}
		for {
			// Canaries are recorded under negative indexes, apart from the corpus.
			v, err := dryRunCreate(context.WithValue(ctx, requestKey{}, -1), client, mapper, object.DeepCopy())
			rec.mu.Lock()
			warnings := rec.seen[-1].warnings
			rec.mu.Unlock()
			answer := v.Message + " " + strings.Join(warnings, " ")
			if err == nil && strings.Contains(answer, probe.Expect) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("canary %s: the API server still answers %q (error %v), not %q, after 120 s", object.GetName(), answer, err, probe.Expect)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}

// dryRunCreate asks the API server to create the object with dryRun=All; an error is returned
// only when the request itself fails (no answer, or an answer that is not a Status).
func dryRunCreate(ctx context.Context, client *dynamic.DynamicClient, mapper *restmapper.DeferredDiscoveryRESTMapper, object *unstructured.Unstructured) (verdict, error) {
	v := verdict{Name: object.GetName(), Namespace: object.GetNamespace()}
	mapping, err := resourceFor(mapper, object)
	if err != nil {
		return v, err
	}
	created, err := resourceClient(client, mapping, object.GetNamespace()).Create(ctx, object, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil {
		v.Allowed = true
		v.Object = created.Object
		return v, nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return v, err
	}
	v.Code = status.Status().Code
	v.Reason = string(status.Status().Reason)
	v.Message = status.Status().Message
	return v, nil
}

// auditAnnotations reads the audit log until it has the ResponseComplete event of every audit ID,
// and returns their annotations by object index (without the authorizer's and the latency ones).
func auditAnnotations(path string, ids map[string]int) (map[int]map[string]string, error) {
	found := map[int]map[string]string{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for _, line := range bytes.Split(text, []byte("\n")) {
			if len(line) == 0 || !bytes.Contains(line, []byte(`"ResponseComplete"`)) {
				continue
			}
			var event struct {
				AuditID     string            `json:"auditID"`
				Stage       string            `json:"stage"`
				Annotations map[string]string `json:"annotations"`
			}
			if json.Unmarshal(line, &event) != nil || event.Stage != "ResponseComplete" {
				continue
			}
			index, ok := ids[event.AuditID]
			if !ok {
				continue
			}
			kept := map[string]string{}
			for k, v := range event.Annotations {
				// The authorizer's decision and, on a slow request, the API server's latency
				// breakdown are not admission's.
				if !strings.HasPrefix(k, "authorization.k8s.io/") && !strings.HasPrefix(k, "apiserver.latency.k8s.io/") {
					kept[k] = v
				}
			}
			found[index] = kept
		}
		if len(found) == len(ids) {
			return found, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the audit log %s has the events of %d of %d requests after 60 s", path, len(found), len(ids))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
