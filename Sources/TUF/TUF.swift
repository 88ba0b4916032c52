public enum TUFPlaceholder {}
