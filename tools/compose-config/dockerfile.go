package main

import (
	"bytes"
	"context"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	digest "github.com/opencontainers/go-digest"
)

// offlineImages answers every base image with an image config of no ENV, no USER: the lint
// rules run without a registry (BuildKit itself still sets PATH, as in a real build).
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` +
		digest.FromString(ref).Encoded() + `"]},"config":{}}`
	return ref, "", []byte(config), nil
}

type command struct {
	Instruction string `json:"instruction"`
	Line        int    `json:"line"`
	Command     any    `json:"command"`
}

type stage struct {
	Name     string    `json:"name"`
	Base     string    `json:"base"`
	Commands []command `json:"commands"`
}

type dockerfileReport struct {
	Lint   *lint.LintResults `json:"lint"`
	Stages []stage           `json:"stages"`
}

// checkDockerfile prints the lint results `docker build --check --format json` gives (every
// rule, all stages) and the parsed instructions per stage; exit 1 on a warning or an error.
func checkDockerfile(path string) int {
	source, err := os.ReadFile(path)
	if err != nil {
		fail(err.Error())
	}
	sourceMap := llb.NewSourceMap(nil, path, "Dockerfile", source)
	sourceMap.Definition = &llb.Definition{} // no build context: the results only name the file
	results, err := dockerfile2llb.DockerfileLint(context.Background(), source, dockerfile2llb.ConvertOpt{
		SourceMap:    sourceMap,
		MetaResolver: offlineImages{},
	})
	if err != nil {
		fail(err.Error())
	}
	report := dockerfileReport{Lint: results}
	if ast, err := parser.Parse(bytes.NewReader(source)); err == nil {
		if stages, _, err := instructions.Parse(ast.AST, nil); err == nil {
			report.Stages = describe(stages)
		}
	}
	printJSON(report)
	if len(results.Warnings) > 0 || results.Error != nil {
		return 1
	}
	return 0
}

func describe(stages []instructions.Stage) []stage {
	described := make([]stage, 0, len(stages))
	for _, s := range stages {
		commands := make([]command, 0, len(s.Commands))
		for _, c := range s.Commands {
			commands = append(commands, command{Instruction: c.Name(), Line: c.Location()[0].Start.Line, Command: c})
		}
		described = append(described, stage{Name: s.Name, Base: s.BaseName, Commands: commands})
	}
	return described
}
