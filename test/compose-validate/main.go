// compose-validate loads Compose files the way Docker Compose does, with
// github.com/compose-spec/compose-go/v2 (the loader the docker compose CLI
// uses): YAML parsing, validation against the Compose Specification JSON
// schema, interpolation from the given env files, normalization and the
// consistency checks (unknown services in depends_on, undeclared volumes and
// networks, ...). It needs no Docker engine.
//
//	compose-validate -f docker-compose.yml [-env-file FILE]... [-profile NAME]...
//
// On success it prints the normalized project as JSON on stdout and exits 0;
// on any error it prints the error on stderr and exits 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var files, envFiles, profiles multi
	flag.Var(&files, "f", "compose file (repeatable)")
	flag.Var(&envFiles, "env-file", "env file used for interpolation (repeatable; default: none, the OS environment is never read)")
	flag.Var(&profiles, "profile", "profile to enable (repeatable; default: all profiles)")
	flag.Parse()
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-validate -f docker-compose.yml [-env-file FILE]... [-profile NAME]...")
		os.Exit(2)
	}
	if len(profiles) == 0 {
		profiles = multi{"*"}
	}
	workDir, err := filepath.Abs(filepath.Dir(files[0]))
	if err != nil {
		fail(err)
	}
	fns := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(workDir)}
	// Only the named env files: the result must not depend on the caller's
	// environment or on a local .env (WithEnvFiles() with no file would pick it up).
	if len(envFiles) > 0 {
		fns = append(fns, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	fns = append(fns,
		cli.WithProfiles(profiles),
		cli.WithConsistency(true),
		cli.WithNormalization(true),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(false),
	)
	opts, err := cli.NewProjectOptions(files, fns...)
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
	os.Stdout.Write([]byte("\n"))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "invalid compose project: %v\n", err)
	os.Exit(1)
}
