import { HTCDS_CSV_COLUMNS, csvCell, toHtcdsCsv } from '../../../../client/referral/domain/export';
import { deriveThreadState } from '../../../../client/referral/domain/state';
import { T0, ThreadBuilder, at, exampleReferral } from './fixtures';
import { step } from './steps';

/** A small RFC 4180 reader, so the tests check what a spreadsheet would read back. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  return rows;
}

function accepted() {
  const b = new ThreadBuilder();
  b.create();
  step(b, 'accept');
  return deriveThreadState(b.events, at(T0));
}

describe('toHtcdsCsv', () => {
  test('the header row uses HTCDS field names', () => {
    const [header] = parseCsv(toHtcdsCsv([]));
    expect(header).toEqual([...HTCDS_CSV_COLUMNS]);
    for (const name of ['prs_FirstName', 'prs_SecondName', 'prs_Gender', 'prs_Citizenship', 'vic_TraffickingStatus', 'vic_TypeOfExploitation', 'cas_Status']) {
      expect(header).toContain(name);
    }
  });

  test('one row per thread with HTCDS values', () => {
    const rows = parseCsv(toHtcdsCsv([accepted()]));
    expect(rows).toHaveLength(2);
    const row = Object.fromEntries(HTCDS_CSV_COLUMNS.map((name, i) => [name, rows[1]?.[i]]));
    expect(row).toMatchObject({
      hnd_CaseCode: 'TRZ-2026-0147',
      prs_FirstName: 'Aigerim',
      prs_SecondName: 'Nurlanovna',
      prs_Gender: 'Feminine',
      prs_Citizenship: 'KZ',
      prs_MobilePhone: "'+77015550123",
      vic_TraffickingStatus: 'PossibleVictimOfTrafficking',
      vic_TypeOfExploitation: 'ForcedLabour',
      vic_MethodsOfControl: 'WithholdsDocuments;DebtBondage;ExcessiveWorkingHours;PhysicalThreats',
      cas_Status: 'Active',
      cas_ReferringOrganisation: 'ngo-taraz',
      cas_ReferredOrganisation: 'shelter-ist',
      cas_OutgoingReferralDate: '2026-11-28',
      cas_IncomingReferralDate: '2026-11-28',
      con_Consent: 'TRUE',
    });
  });

  test('threads without a referral or with consent withdrawn are never exported', () => {
    const b = new ThreadBuilder();
    b.create();
    step(b, 'consentWithdraw');
    const withdrawn = deriveThreadState(b.events, at(T0));
    const empty = deriveThreadState([], at(T0));
    expect(parseCsv(toHtcdsCsv([withdrawn, empty, accepted()]))).toHaveLength(2);
  });

  test('hostile text is quoted and defused, and reads back as written (plus the defusing quote)', () => {
    const body = exampleReferral();
    body.identity.firstName = '=HYPERLINK("http://evil.example","click")';
    body.identity.secondName = 'O"Brien, Jr.\nsecond line';
    body.header.referralDetails = '@SUM(A1:A2); -1 +1';
    const b = new ThreadBuilder();
    b.create(body);
    const csv = toHtcdsCsv([deriveThreadState(b.events, at(T0))]);
    const rows = parseCsv(csv);
    expect(rows).toHaveLength(2);
    const row = Object.fromEntries(HTCDS_CSV_COLUMNS.map((name, i) => [name, rows[1]?.[i]]));
    expect(row.prs_FirstName).toBe(`'=HYPERLINK("http://evil.example","click")`);
    expect(row.prs_SecondName).toBe('O"Brien, Jr.\nsecond line');
    expect(row.cas_OutgoingReferralDetails).toBe("'@SUM(A1:A2); -1 +1");
    for (const cells of rows) for (const cell of cells) expect(cell).not.toMatch(/^[=+\-@]/);
  });
});

describe('csvCell', () => {
  test.each([
    ['plain', 'plain'],
    ['', ''],
    ['a,b', '"a,b"'],
    ['a;b', '"a;b"'],
    ['say "hi"', '"say ""hi"""'],
    ['line\r\nbreak', '"line\r\nbreak"'],
    ['=1+1', "'=1+1"],
    ['+7701', "'+7701"],
    ['-2', "'-2"],
    ['@cmd', "'@cmd"],
    ['\tTAB', "'\tTAB"],
    ['=A1,"x"', `"'=A1,""x"""`],
    ['a=b', 'a=b'],
  ])('%j → %j', (input, expected) => {
    expect(csvCell(input)).toBe(expected);
  });
});
