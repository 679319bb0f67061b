// Runs once, when the MongoDB data directory is initialised (docker-entrypoint-initdb.d):
// the application user of the ledger, with readWrite on the ledger database only (it also
// creates the ledger's indexes, which readWrite allows). The root user stays for operators.
const user = process.env.MONGO_APP_USER;
const pwd = process.env.MONGO_APP_PASSWORD;
const database = process.env.MONGO_LEDGER_DATABASE || "spatial_etl";
if (!user || !pwd) {
  throw new Error("MONGO_APP_USER and MONGO_APP_PASSWORD must be set");
}
const ledger = db.getSiblingDB(database);
if (ledger.getUser(user) === null) {
  ledger.createUser({ user: user, pwd: pwd, roles: [{ role: "readWrite", db: database }] });
  print(`ledger user ${user} created with readWrite on ${database}`);
}
