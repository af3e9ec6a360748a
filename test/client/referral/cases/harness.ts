/**
 * The demo's cast on a loopback network: an NGO in Taraz refers a survivor
 * to a shelter in Istanbul (two staff devices) with IOM Istanbul
 * coordinating the return. Every device runs a real CaseService.
 */
import example from '../../../../examples/referral.json';
import { CaseService } from '../../../../client/referral/cases/case-service';
import { type Crypto } from '../../../../shared/crypto/types';
import { loadCrypto } from '../../../../shared/crypto/sodium';
import { ReferralBody } from '../../../../client/referral/domain/schemas';
import { LoopbackNetwork, type LoopbackTransport } from '../../../support/loopback';

export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;
/** Shortly after the example consent was given (2026-11-28 10:00 UTC). */
export const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);

export function exampleReferral(): ReferralBody {
  return ReferralBody.parse(structuredClone(example));
}

export interface Party {
  transport: LoopbackTransport;
  cases: CaseService;
}

export class Scenario {
  clock = T0;
  readonly network = new LoopbackNetwork(() => this.clock);
  readonly parties: Party[] = [];

  private constructor(private readonly crypto: Crypto) {}

  static async create(): Promise<Scenario & { ngo: Party; shelterA: Party; shelterB: Party; iom: Party }> {
    const s = new Scenario(await loadCrypto());
    return Object.assign(s, {
      ngo: s.add('ngo-taraz', 'ngo', 'ngo-taraz:ngo-dev-1'),
      shelterA: s.add('shelter-ist', 'shelter', 'shelter-ist:sh-dev-a'),
      shelterB: s.add('shelter-ist', 'shelter', 'shelter-ist:sh-dev-b'),
      iom: s.add('iom-ist', 'iom', 'iom-ist:iom-dev-1'),
    });
  }

  add(orgId: string, orgType: 'ngo' | 'iom' | 'shelter' | 'authority', deviceId: string): Party {
    const transport = this.network.device(orgId, orgType, deviceId);
    const party = { transport, cases: new CaseService({ transport, crypto: this.crypto, now: () => this.clock }) };
    this.parties.push(party);
    return party;
  }

  /** Move the clock on (every event gets a distinct, readable time). */
  tick(ms = 60_000): void {
    this.clock += ms;
  }

  async settle(): Promise<void> {
    await this.network.settle(this.parties.map((p) => p.cases));
  }
}
