// vap-check asks a live API server (the rig) what Kubernetes says of a ValidatingAdmissionPolicy's
// expressions, for cel-k8s' checker fixtures (crates/cel-k8s/testdata/kubernetes):
//
//	vap-check KUBECONFIG create POLICY.json     the errors of a server dry-run create, per field
//	                                            (a ValidatingAdmissionPolicy or, by its kind, a
//	                                            MutatingAdmissionPolicy)
//	vap-check KUBECONFIG typecheck POLICY.json  Kubernetes' own type checking (the warnings the
//	                                            status controller writes to status.typeChecking)
//
// Each prints JSON lines: {"field": ..., "message": ...}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	v1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: vap-check KUBECONFIG create|typecheck POLICY.json")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", os.Args[1])
	must(err)
	text, err := os.ReadFile(os.Args[3])
	must(err)
	var policy v1.ValidatingAdmissionPolicy
	must(json.Unmarshal(text, &policy))
	out := json.NewEncoder(os.Stdout)
	switch os.Args[2] {
	case "create":
		client := kubernetes.NewForConfigOrDie(config)
		dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		if policy.Kind == "MutatingAdmissionPolicy" {
			var mutating v1.MutatingAdmissionPolicy
			must(json.Unmarshal(text, &mutating))
			_, err = client.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(
				context.Background(), &mutating, dryRun)
		} else {
			_, err = client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(
				context.Background(), &policy, dryRun)
		}
		if err == nil {
			return
		}
		status, ok := err.(apierrors.APIStatus)
		if !ok || status.Status().Details == nil {
			must(err)
		}
		for _, cause := range status.Status().Details.Causes {
			must(out.Encode(map[string]string{"field": cause.Field, "message": detail(cause.Message)}))
		}
	case "typecheck":
		client := discovery.NewDiscoveryClientForConfigOrDie(config)
		checker := validating.TypeChecker{
			SchemaResolver: &resolver.ClientDiscoveryResolver{Discovery: client},
			RestMapper:     restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client)),
		}
		for _, w := range checker.Check(&policy) {
			must(out.Encode(map[string]string{"field": w.FieldRef, "message": w.Warning}))
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[2])
		os.Exit(2)
	}
}

// detail is a cause's message without its `Invalid value: "...": ` prefix (the value is ours).
func detail(message string) string {
	for _, marker := range []string{"\": compilation failed: ", "\": must evaluate"} {
		if i := strings.Index(message, marker); i >= 0 {
			return strings.TrimPrefix(message[i+3:], "compilation failed: ")
		}
	}
	return message
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
