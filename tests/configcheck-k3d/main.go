// Command configcheck-k3d checks k3d cluster configs against k3d's own config code
// (github.com/k3d-io/k3d/v5, the version in go.mod) the way `k3d cluster create --config`
// reads a file: environment variables are expanded, viper reads the YAML, k3d's JSON schema
// for the apiVersion validates it, and viper decodes it into v1alpha5.SimpleConfig. Here the
// decode is viper's UnmarshalExact, so an unknown or misspelt key fails.
//
// k3d decodes through its mapstructure tags, not its json tags (they differ: "token" is
// "clusterToken" in json, and "timeout: 60s" is a duration string), so decoding with
// sigs.k8s.io/yaml as the kind checker does would check the wrong field names.
//
//	go run . FILE...
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/k3d-io/k3d/v5/pkg/config"
	"github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"
	"github.com/spf13/viper"
	"sigs.k8s.io/yaml"
)

func check(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	expanded := []byte(os.ExpandEnv(string(data))) // as k3d does before reading
	var content map[string]any
	if err := yaml.Unmarshal(expanded, &content); err != nil {
		return err
	}
	want := v1alpha5.SimpleConfig{}
	if content["kind"] != want.GetKind() || content["apiVersion"] != want.GetAPIVersion() {
		return fmt.Errorf("kind/apiVersion are %q/%q, want %q/%q",
			content["kind"], content["apiVersion"], want.GetKind(), want.GetAPIVersion())
	}
	schema, err := config.GetSchemaByVersion(v1alpha5.ApiVersion)
	if err != nil {
		return err
	}
	var errs []error
	if err := config.ValidateSchema(content, schema); err != nil {
		errs = append(errs, fmt.Errorf("k3d's JSON schema: %s", strings.TrimSpace(err.Error())))
	}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(expanded)); err != nil {
		return errors.Join(append(errs, err)...)
	}
	var cfg v1alpha5.SimpleConfig
	if err := v.UnmarshalExact(&cfg); err != nil {
		errs = append(errs, fmt.Errorf("strict decode into v1alpha5.SimpleConfig: %w", err))
	}
	return errors.Join(errs...)
}

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
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
