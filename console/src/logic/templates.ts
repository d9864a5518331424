// The standard template library's ids (templates/catalog.yaml; a unit test keeps them equal).
// The API has no route listing a retailer's templates, so the console offers these and accepts
// any other id a retailer's own library has.
export const STANDARD_TEMPLATES = ["weekly-offers", "abandoned-cart", "back-in-stock", "welcome", "win-back"];
