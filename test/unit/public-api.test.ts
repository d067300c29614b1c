/**
 * components/index.ts is the whole public API: what another team may import
 * from `berth`. These lists pin it, so adding or removing an export is a
 * visible change to this file (and, once published, a semver decision).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const INDEX = path.join(__dirname, '..', '..', 'components', 'index.ts');

/** The values a program can use at run time. */
const VALUES = [
  'BASE_IMAGE_BUILD_ARG',
  'ContainerService',
  'DEFAULT_PROJECT',
  'DIGEST_PATTERN',
  'DockerHostGroup',
  'EcsCluster',
  'EcsService',
  'EnvironmentMonitoring',
  'EnvironmentTraffic',
  'LayeredImages',
  'ServiceRegistry',
  'berthTags',
  'envName',
  'parseImageRef',
  'pinnedRef',
  'repositoryName',
  'resolveServiceImage',
  'serviceLogGroupName',
];

/** The types: each component's Args and transform hooks, and what they refer to. */
const TYPES = [
  'ContainerServiceArgs',
  'ContainerServiceTransform',
  'ContainerVolume',
  'DockerHost',
  'DockerHostGroupArgs',
  'DockerHostGroupTransform',
  'EcsCapacity',
  'EcsClusterArgs',
  'EcsClusterTransform',
  'EcsServiceArgs',
  'EcsServiceTarget',
  'EcsServiceTransform',
  'EnvironmentMonitoringArgs',
  'EnvironmentMonitoringTransform',
  'EnvironmentTrafficArgs',
  'EnvironmentTrafficTransform',
  'HostLoggingConfig',
  'HostSshArgs',
  'ImageBuild',
  'ImageCleanup',
  'ImageRef',
  'LayeredImagesArgs',
  'LayeredImagesTransform',
  'LoadBalancerRole',
  'LoadBalancerScheme',
  'RegistryStackOutputs',
  'ServiceRegistryArgs',
  'ServiceRegistryTransform',
  'ServiceRoute',
  'TrafficHost',
  'TrafficService',
  'Transform',
  'WebEndpoint',
];

/** Every name components/index.ts exports, read from its export declarations. */
function declaredExports(): { values: string[]; types: string[]; notByName: string[] } {
  const source = ts.createSourceFile(INDEX, fs.readFileSync(INDEX, 'utf8'), ts.ScriptTarget.ES2022, true);
  const values: string[] = [];
  const types: string[] = [];
  const notByName: string[] = [];
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      if (!statement.exportClause) {
        notByName.push((statement.moduleSpecifier as ts.StringLiteral).text);
        continue;
      }
      if (ts.isNamedExports(statement.exportClause)) {
        for (const element of statement.exportClause.elements) {
          (statement.isTypeOnly || element.isTypeOnly ? types : values).push(element.name.text);
        }
      }
    } else if (ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      // A declaration written in the index itself: the index only re-exports.
      notByName.push(`declaration at line ${source.getLineAndCharacterOfPosition(statement.getStart()).line + 1}`);
    }
  }
  return { values: values.sort(), types: types.sort(), notByName };
}

describe('public API (components/index.ts)', () => {
  it('exports exactly these names, each by name (no `export *`)', () => {
    const { values, types, notByName } = declaredExports();
    expect(notByName).toEqual([]);
    expect(values).toEqual(VALUES);
    expect(types).toEqual(TYPES);
  });

  it('has exactly these values at run time', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const api = require('../../components');
    expect(Object.keys(api).sort()).toEqual(VALUES);
  });
});
