// Command configcheck decodes kind cluster configs strictly into kind's own published API
// types (sigs.k8s.io/kind/pkg/apis/config/v1alpha4), so an unknown or misspelt field fails.
//
//	go run . FILE...
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err == nil {
			var cfg v1alpha4.Cluster
			err = yaml.UnmarshalStrict(data, &cfg)
			if err == nil && (cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4") {
				err = fmt.Errorf("kind/apiVersion are %q/%q", cfg.Kind, cfg.APIVersion)
			}
		}
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s: ok\n", path)
	}
	if failed {
		os.Exit(1)
	}
}
