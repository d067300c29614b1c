/**
 * The Pulumi project files are YAML and cannot import the names the code
 * uses: the project name the components default to (and the environment
 * program's config namespace), and the registry project's name. These tests
 * hold the YAML to them.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { DEFAULT_PROJECT } from '../../components/common/naming';
import { PROJECT_ROOT } from '../../stacks/common/paths';
import { CONFIG_NAMESPACE } from '../../stacks/env/config';
import { REGISTRY_PROJECT, REGISTRY_ROOT } from '../../stacks/registry/program';

const projectName = (file: string) => (YAML.parse(fs.readFileSync(file, 'utf8')) as { name: string }).name;

describe('project names', () => {
  it('names the environment program DEFAULT_PROJECT, which is also its config namespace', () => {
    expect(projectName(path.join(PROJECT_ROOT, 'Pulumi.yaml'))).toBe(DEFAULT_PROJECT);
    expect(CONFIG_NAMESPACE).toBe(DEFAULT_PROJECT);
  });

  it('names the registry project REGISTRY_PROJECT, its config namespace', () => {
    expect(projectName(path.join(REGISTRY_ROOT, 'Pulumi.yaml'))).toBe(REGISTRY_PROJECT);
  });
});
