// compose-config renders Compose files the way `docker compose config` does, and checks a
// Dockerfile the way `docker build --check` does, with the libraries those commands use
// (compose-go, BuildKit's Dockerfile frontend). The deployment tests run it: no Docker engine
// is needed.
//
//	compose-config [--format json|yaml] [--project-directory DIR] FILE...
//	compose-config dockerfile FILE
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "dockerfile" {
		if len(os.Args) != 3 {
			fail("usage: compose-config dockerfile FILE")
		}
		os.Exit(checkDockerfile(os.Args[2]))
	}
	format := flag.String("format", "json", "json or yaml")
	projectDir := flag.String("project-directory", "", "default: the first file's folder")
	flag.Parse()
	if flag.NArg() == 0 {
		fail("usage: compose-config [--format json|yaml] [--project-directory DIR] FILE...")
	}
	out, err := render(flag.Args(), *projectDir, *format)
	if err != nil {
		fail(err.Error())
	}
	os.Stdout.Write(out)
}

// render loads, validates against the Compose schema, interpolates, normalizes and checks
// consistency (depends_on targets, volumes, networks), as `docker compose config` does.
func render(files []string, projectDir, format string) ([]byte, error) {
	if projectDir == "" {
		projectDir = filepath.Dir(files[0])
	}
	options, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(projectDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(), // the project directory's .env, as Compose reads it
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithDiscardEnvFile,
	)
	if err != nil {
		return nil, err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	project, err = project.WithServicesEnvironmentResolved(true)
	if err != nil {
		return nil, err
	}
	switch format {
	case "json":
		return project.MarshalJSON()
	case "yaml":
		return project.MarshalYAML()
	}
	return nil, fmt.Errorf("--format must be json or yaml, got %q", format)
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "compose-config:", message)
	os.Exit(1)
}

func printJSON(value any) {
	out, err := json.MarshalIndent(value, "", "  ")
	if err != nil {
		fail(err.Error())
	}
	os.Stdout.Write(append(out, '\n'))
}
