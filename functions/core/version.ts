/** The nca-backup version recorded in every manifest. */
export const VERSION = '0.1.0';
