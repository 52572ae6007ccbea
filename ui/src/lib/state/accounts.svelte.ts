// The saved accounts the settings screen lists, fetched again after every change: the
// settings store (not the engine) is where they live.
import { BackendError, type Backend, type SavedAccount, type SavedAccounts } from '../backend/types';
import { describeError } from '../errors';

export class SavedAccountsStore {
  /** As of the last `load` that answered; empty before the first. */
  list = $state<SavedAccounts>({ accounts: [], default_account: null });
  /** Why the last `load` failed; null once one succeeds. */
  problem = $state<string | null>(null);

  private readonly backend: Backend;
  /** Loads started: only the latest one's answer is kept, so an older one never wins. */
  private loads = 0;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  /** The saved account with this id, if it is still saved. */
  find(id: string): SavedAccount | undefined {
    return this.list.accounts.find((a) => a.settings.id === id);
  }

  /** Fetches the list again; a failure leaves the last one and sets `problem`. */
  async load(): Promise<void> {
    const n = ++this.loads;
    try {
      const list = await this.backend.listAccounts();
      if (n !== this.loads) return;
      this.list = list;
      this.problem = null;
    } catch (e) {
      if (n === this.loads) this.problem = describeError(BackendError.from(e));
    }
  }
}
