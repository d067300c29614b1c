/** Reading an environment's stack file, `Pulumi.<env>.yaml` at the project root, with the one stack-file reader. */
import { isEnvironmentName, unknownEnvironmentProblem } from '../../../components/common/environments';
import { ConfigError } from '../../common/configErrors';
import { PROJECT_ROOT } from '../../common/paths';
import { readStackConfigFile, StackFile, stackFileName } from '../../common/stackFile';

/** Reads `Pulumi.<stack>.yaml` from the project root; errors name the file and line. */
export function readStackFile(stack: string, root: string = PROJECT_ROOT): StackFile {
  const file = stackFileName(stack);
  if (!isEnvironmentName(stack)) {
    throw new ConfigError([`${file}: ${unknownEnvironmentProblem(stack)}`]);
  }
  return readStackConfigFile(root, file);
}
