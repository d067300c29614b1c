/**
 * Runs the policy pack's resource and stack policies over an offline synth
 * (tools/synth), the way the Pulumi engine would run them over a preview:
 * each resource's inputs as `props`, a URN built from stack, project, type
 * and name, parents linked, and each input's dependencies (propertyDependencies)
 * resolved to the resources synth names, as the engine hands them to stack
 * policies. No engine, no cloud.
 */
import type {
  Policies,
  PolicyResource,
  PolicyResourceOptions,
  ReportViolation,
  ResourceValidation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from '@pulumi/policy';
import { DEFAULT_PROJECT } from '../../components/common/naming';
import type { SynthResult } from '../offline/types';
import { BerthPolicyConfig, policies as berthPolicies } from '../../stacks/policy/policies';

export interface PolicyViolation {
  policy: string;
  /** Name of the resource in violation; undefined for a violation of the stack as a whole. */
  resource?: string;
  type?: string;
  message: string;
}

export interface OfflinePolicyOptions {
  /** @default "berth" */
  project?: string;
  /** @default the pack's policies */
  policies?: Policies;
  config?: BerthPolicyConfig;
}

class NotApplicable extends Error {}

const OPTIONS: PolicyResourceOptions = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
};

function unsupported(): never {
  throw new Error('isType/asType need provider classes; Berth policies compare type tokens instead');
}

export function urnOf(stack: string, project: string, type: string, name: string): string {
  return `urn:pulumi:${stack}::${project}::${type}::${name}`;
}

/** Every violation the policies report for a synth result, in policy order, then resource order. */
export async function runPoliciesOffline(result: SynthResult, options: OfflinePolicyOptions = {}): Promise<PolicyViolation[]> {
  const project = options.project ?? DEFAULT_PROJECT;
  const policies = options.policies ?? berthPolicies;
  const getConfig = <T extends object>() => (options.config ?? {}) as T;
  const notApplicable = (): never => {
    throw new NotApplicable();
  };

  const resources: PolicyResource[] = result.resources.map((resource) => ({
    type: resource.type,
    name: resource.name,
    urn: urnOf(result.stack, project, resource.type, resource.name),
    props: resource.inputs,
    opts: { ...OPTIONS },
    dependencies: [],
    propertyDependencies: {},
    isType: unsupported,
    asType: unsupported,
  }));
  const byName = new Map<string, PolicyResource>();
  for (const resource of resources) {
    if (!byName.has(resource.name)) {
      byName.set(resource.name, resource);
    }
  }
  result.resources.forEach((recorded, index) => {
    const parent = recorded.parent ? byName.get(recorded.parent) : undefined;
    if (parent) {
      resources[index].parent = parent;
      resources[index].opts.parent = parent.urn;
    }
  });
  // Synth names a dependency by its logical name, or `type::name` where names are shared.
  const byReference = new Map<string, PolicyResource>(byName);
  for (const resource of resources) {
    byReference.set(`${resource.type}::${resource.name}`, resource);
  }
  const resolve = (references: string[] | undefined): PolicyResource[] =>
    (references ?? []).map((reference) => byReference.get(reference)).filter((resource): resource is PolicyResource => resource !== undefined);
  result.resources.forEach((recorded, index) => {
    resources[index].dependencies = resolve(recorded.options?.dependsOn);
    resources[index].propertyDependencies = Object.fromEntries(Object.entries(recorded.propertyDependencies ?? {}).map(([property, references]) => [property, resolve(references)]));
  });
  const byUrn = new Map(resources.map((resource) => [resource.urn, resource]));

  const violations: PolicyViolation[] = [];
  for (const policy of policies) {
    if (policy.enforcementLevel === 'disabled') {
      continue;
    }
    if ('validateStack' in policy) {
      const stackPolicy = policy as StackValidationPolicy;
      const report: ReportViolation = (message, urn) => {
        const resource = urn ? byUrn.get(urn) : undefined;
        violations.push({ policy: policy.name, resource: resource?.name, type: resource?.type, message });
      };
      const args: StackValidationArgs = { resources, stackTags: new Map(), getConfig, notApplicable };
      await runGuarded(() => stackPolicy.validateStack(args, report));
      continue;
    }
    const validations = (policy as ResourceValidationPolicy).validateResource;
    const list: ResourceValidation[] = validations === undefined ? [] : Array.isArray(validations) ? validations : [validations];
    for (const resource of resources) {
      const args: ResourceValidationArgs = {
        type: resource.type,
        name: resource.name,
        urn: resource.urn,
        props: resource.props,
        opts: resource.opts,
        stackTags: new Map(),
        isType: unsupported,
        asType: unsupported,
        getConfig,
        notApplicable,
      };
      const report: ReportViolation = (message) => violations.push({ policy: policy.name, resource: resource.name, type: resource.type, message });
      for (const validate of list) {
        await runGuarded(() => validate(args, report));
      }
    }
  }
  return violations;
}

async function runGuarded(run: () => Promise<void> | void): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof NotApplicable)) {
      throw error;
    }
  }
}

/** One line per violation: `[policy] type name: message`. */
export function renderViolations(violations: PolicyViolation[]): string {
  return violations.map((violation) => `[${violation.policy}] ${violation.type ?? '(stack)'} ${violation.resource ?? ''}: ${violation.message}`.replace(' :', ':')).join('\n');
}
