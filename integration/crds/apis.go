// Package crds names the API packages whose CustomResourceDefinitions controller-gen
// generates for the kube rig (see generate-crds.sh), so that go.mod pins their versions.
package crds

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)
