/**
 * Berth's policy pack:
 *
 *   pulumi preview --stack prod --policy-pack stacks/policy
 *
 * Constructing the pack starts the policy server the Pulumi engine talks to,
 * so the policies themselves live in policies.ts, where tests import them.
 */
import { PolicyPack } from '@pulumi/policy';
import { policies } from './policies';

new PolicyPack('berth', { policies, enforcementLevel: 'mandatory' });
